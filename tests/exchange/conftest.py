"""Two nodes on one anvil chain: a hospital serving as its own process, a clinic in this one."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from careledger.api import free_port
from careledger.chain import Role, open_chain
from careledger.config import NODE_WALLET, Home, Settings
from careledger.consent import Purpose
from careledger.exchange import FetchResult
from careledger.identity import Wallet, WalletStore
from careledger.node import Node, init_home
from careledger.records import Category
from careledger.testdata import PASSPHRASE, synthetic_patients

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Network:
    """The hospital (custodian, a `careledger serve` process) and the clinic (requester, here).

    `hospital` is a second Node on the hospital's home for the test's own checks and
    set-up (consents, audit), as an administrator's CLI would be beside the server.
    """

    hospital: Node
    clinic: Node
    alice: Wallet
    url: str
    labs: list[str]
    mental_health_id: str

    def fetch(self, categories: list[Category], purpose: Purpose = Purpose.TREAT) -> FetchResult:
        wallet = self.clinic.unlock(NODE_WALLET)
        return self.clinic.requester.fetch(
            wallet.account, wallet.encryption_key(), self.hospital.address, self.alice.address, categories, purpose
        )

    def grant_labs(self) -> int:
        terms = self.hospital.consent.terms(
            self.alice.address, self.clinic.address, [Category.LABS], [Purpose.TREAT], days=30
        )
        return self.hospital.consent.grant(self.hospital.consent_registry(as_wallet="alice"), terms).grant_id


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open_chain("anvil", chain_dir=tmp_path / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        fund = lambda address: chain.backend.fund(address, 10**21)  # noqa: E731 - an RPC chain funds no one itself
        with _funded(tmp_path / "hospital", settings, fund) as hospital:
            node_wallet = hospital.wallets.get(NODE_WALLET)
            hospital.identity_registry(as_wallet=NODE_WALLET).register(Role.ORG, node_wallet.encryption_key, url)
            alice = hospital.wallets.create("alice", Role.PATIENT, PASSPHRASE)
            fund(alice.address)
            hospital.identity_registry(as_wallet=NODE_WALLET).register_actor(
                alice.address, alice.role, alice.encryption_key
            )
            labs, mental_health_id = _chart(hospital, alice)
            hospital.anchorer.anchor_pending()
            clinic = _joining_node(tmp_path / "clinic", settings, hospital, fund)
            server = _serve(hospital.home, port)
            try:
                yield Network(hospital, clinic, alice, url, labs, mental_health_id)
            finally:
                server.terminate()
                server.wait(timeout=30)
                clinic.close()


def _chart(hospital: Node, alice: Wallet) -> tuple[list[str], str]:
    patient = synthetic_patients(1, seed=21)[0]
    hospital.records.write(patient.patient, patient_address=alice.address)
    stored = [hospital.records.write(resource) for resource in patient.records]
    condition = next(r for r in patient.records if r["resourceType"] == "Condition")
    note = copy.deepcopy(condition)
    note["id"] = "depression-1"
    note["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]}
    mental_health = hospital.records.write(note)
    return [s.record_id for s in stored if s.category is Category.LABS], mental_health.record_id


@contextmanager
def _funded(path: Path, settings: Settings, fund: Callable[[str], None]) -> Iterator[Node]:
    """The first node: its wallet funded before it deploys the contracts."""
    home = Home(path)
    init_home(home, settings, PASSPHRASE)
    fund(WalletStore(home.keystore_dir).get(NODE_WALLET).address)
    with Node(home, settings, lambda _wallet: PASSPHRASE) as node:
        node.deploy()
        yield node


def _joining_node(path: Path, settings: Settings, hospital: Node, fund: Callable[[str], None]) -> Node:
    """A second node on the same chain: the network's deployments, its wallet funded and registered."""
    home = Home(path)
    init_home(home, settings, PASSPHRASE)
    shutil.copytree(hospital.home.deployments_dir, home.deployments_dir, dirs_exist_ok=True)
    clinic = Node(home, settings, lambda _wallet: PASSPHRASE)
    wallet = clinic.wallets.get(NODE_WALLET)
    fund(wallet.address)
    clinic.identity_registry(as_wallet=NODE_WALLET).register(Role.ORG, wallet.encryption_key)
    return clinic


def _serve(home: Home, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CARELEDGER_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "careledger", "--home", str(home.path), "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"the hospital's server exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the hospital's server did not come up in 60 s")
