"""The supply network of `tests/supplychain/conftest.py` behind real HTTP servers, and its people signed in.

Each node a test module serves gets a `NodeServer`; `Counter` signs in, over SIWE, the node's operator (its own
wallet), one of its staff (a pharmacist the node attested an `affiliation`) and a stranger to it (a patient
registered on chain, of no node's staff).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

from careledger.access import AFFILIATION
from careledger.api import NodeServer
from careledger.config import NODE_WALLET
from careledger.identity import Role
from careledger.node import Node
from careledger.testdata import PASSPHRASE


@dataclass
class Counter:
    """One node behind a server, and clients signed in as its operator, a staff member and a stranger."""

    node: Node
    server: NodeServer
    operator: httpx.Client
    staff: httpx.Client
    stranger: httpx.Client
    staff_address: str
    stranger_address: str

    @property
    def url(self) -> str:
        return self.server.url

    def anonymous(self) -> httpx.Client:
        """A client with no token."""
        return httpx.Client(base_url=self.url, timeout=60)


def login(server: NodeServer, node: Node, account: LocalAccount) -> httpx.Client:
    """A client of `server` signed in as `account` (SIWE)."""
    nonce = httpx.get(f"{server.url}/auth/nonce").json()["nonce"]
    message = SiweMessage(
        domain=server.domain,
        address=account.address,
        statement="Sign in to CareLedger",
        uri=server.url,
        version="1",
        chain_id=node.chain_id,
        nonce=nonce,
        issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    ).prepare_message()
    signature = "0x" + account.sign_message(encode_defunct(text=message)).signature.hex()
    answer = httpx.post(f"{server.url}/auth/login", json={"message": message, "signature": signature})
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


@contextmanager
def counter(node: Node, name: str, founder: Node) -> Iterator[Counter]:
    """`node` behind a server, with its operator, a pharmacist of its staff and a patient signed in (`name` tells
    this node's people from another's); `founder`, who administers the registry, lets `node` register and attest
    its people."""
    founding = founder.contracts.identity_registry(as_wallet=NODE_WALLET)
    for role in ("REGISTRAR_ROLE", "ISSUER_ROLE"):
        founding.grant_role(role, node.address)
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    people = {}
    for who, role in (("pharmacist", Role.PHARMACY), ("patient", Role.PATIENT)):
        wallet = node.wallets.create(f"{name}-{who}", role, PASSPHRASE)
        registry.register_actor(wallet.address, role, wallet.encryption_key)
        people[who] = wallet
    registry.attest(people["pharmacist"].address, AFFILIATION, int(time.time()) + 86_400)
    with ExitStack() as stack:
        server = NodeServer(node, port=0)
        server.start()
        stack.callback(server.stop)
        clients = [
            stack.enter_context(login(server, node, node.unlock(wallet).account))
            for wallet in (NODE_WALLET, people["pharmacist"].name, people["patient"].name)
        ]
        yield Counter(node, server, *clients, people["pharmacist"].address, people["patient"].address)
