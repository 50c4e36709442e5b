"""Three nodes on three hosts of their own (network namespaces) and one chain on this host.

Each node is a `careledger serve` process in its namespace, with its own home and SQLite
database, listening on its namespace's address, its endpoint registered on the shared
chain. Beside each server the test keeps an operator's handle on the same home (a `Node`,
in this namespace), as the demo does, for the set-up; what the people at each node do in
the test runs as `careledger` commands inside that node's namespace.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from careledger.api import NodeProcess
from careledger.chain import AnvilProcess, ChainDir, Role, find_anvil
from careledger.config import NODE_WALLET, Settings
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients
from tests.network._hosts import Host, Hosts, remove_stale, unavailable

ROOT = Path(__file__).resolve().parents[2]
DELAY_MS = 40
# Each namespace has ports of its own: every node listens on the same one.
PORT = 8080
_ANVIL_CHAIN_ID = 31337


@dataclass
class Site:
    """One organisation: its namespace, its server there, and the operator's handle on its home."""

    host: Host
    node: Node
    process: NodeProcess

    @property
    def address(self) -> str:
        """The node's wallet address."""
        return self.node.address

    def careledger(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`careledger --home HOME ARGS` run to the end inside this site's namespace."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARELEDGER_")}
        env["CARELEDGER_PASSPHRASE"] = PASSPHRASE
        return self.host.run([sys.executable, "-m", "careledger", "--home", str(self.node.home.path), *args], env)


@dataclass
class Network:
    """The sites by name (a: the custodian, b: the clinic she consents to, c: one she does not)."""

    sites: dict[str, Site]
    alice: Wallet
    labs: list[str]

    def __getitem__(self, name: str) -> Site:
        return self.sites[name]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"three hosts in network namespaces: {reason}")
    remove_stale()
    root = tmp_path_factory.mktemp("network")
    hosts = Hosts(["a", "b", "c"], DELAY_MS)
    anvil = AnvilProcess(
        find_anvil(), ChainDir(root / "chain"), chain_id=_ANVIL_CHAIN_ID, state_interval=2, host=hosts.gateway
    )
    nodes: list[Node] = []
    servers: list[NodeProcess] = []
    try:
        settings = Settings(chain=anvil.start(), light_kdf=True, anchor_in_background=False)
        endpoints = {name: f"http://{host.address}:{PORT}" for name, host in hosts.hosts.items()}
        founder = founding_node(root / "a", settings, endpoints["a"])
        nodes.append(founder)
        nodes += [joining_node(root / name, settings, founder, endpoints[name]) for name in ("b", "c")]
        alice, labs = _alice_at(founder)
        sites = {
            name: Site(hosts[name], node, _server(node, hosts[name])) for name, node in zip("abc", nodes, strict=True)
        }
        servers += [site.process for site in sites.values()]
        for server in servers:  # all three import and open at once, then each is waited for
            server.launch()
        for server in servers:
            server.wait_ready()
        yield Network(sites, alice, labs)
    finally:
        for server in servers:
            server.kill()
        for node in nodes:
            node.close()
        hosts.close()
        anvil.stop()


def _server(node: Node, host: Host) -> NodeProcess:
    return NodeProcess(node.home, PORT, passphrase=PASSPHRASE, cwd=ROOT, host=host.address, prefix=host.command())


def _alice_at(custodian: Node) -> tuple[Wallet, list[str]]:
    """Alice, a registered patient of the custodian, with a chart there; her lab records' ids."""
    alice = custodian.wallets.create("alice", Role.PATIENT, PASSPHRASE)
    custodian.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        alice.address, alice.role, alice.encryption_key
    )
    patient = synthetic_patients(1, seed=37)[0]
    custodian._records.write(patient.patient, patient_address=alice.address)
    stored = [custodian._records.write(resource) for resource in patient.records]
    custodian.anchorer.anchor_pending()
    return alice, [f"{s.resource_type}/{s.record_id}" for s in stored if s.category is Category.LABS]
