"""Two nodes on one anvil chain: a hospital serving as its own process, a clinic in this one."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from careledger.api import NodeProcess, free_port
from careledger.chain import Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.exchange import FetchResult
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients

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
        return self.hospital.consent.grant("alice", terms).grant_id


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open_chain("anvil", chain_dir=tmp_path / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        hospital = founding_node(tmp_path / "hospital", settings, endpoint=url)
        clinic = joining_node(tmp_path / "clinic", settings, hospital)
        try:
            alice = hospital.wallets.create("alice", Role.PATIENT, PASSPHRASE)
            hospital.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
                alice.address, alice.role, alice.encryption_key
            )
            labs, mental_health_id = _chart(hospital, alice)
            hospital.anchorer.anchor_pending()
            with NodeProcess(hospital.home, port, passphrase=PASSPHRASE, cwd=ROOT).start():
                yield Network(hospital, clinic, alice, url, labs, mental_health_id)
        finally:
            clinic.close()
            hospital.close()


def _chart(hospital: Node, alice: Wallet) -> tuple[list[str], str]:
    patient = synthetic_patients(1, seed=21)[0]
    hospital._records.write(patient.patient, patient_address=alice.address)
    stored = [hospital._records.write(resource) for resource in patient.records]
    condition = next(r for r in patient.records if r["resourceType"] == "Condition")
    note = copy.deepcopy(condition)
    note["id"] = "depression-1"
    note["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]}
    mental_health = hospital._records.write(note)
    return [s.record_id for s in stored if s.category is Category.LABS], mental_health.record_id
