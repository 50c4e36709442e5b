"""The supply network of `tests/supplychain/conftest.py` behind real HTTP servers, and its people signed in.

Each node a test module serves gets a `NodeServer`; `Counter` signs in, over SIWE, the node's operator (its own
wallet), one of its staff (a practitioner the node attested an `affiliation`) and a stranger to its supply chain
(a patient of the node, with her Patient record there); `scoped` hands one of them a token of fewer scopes, as a SMART
app of hers would hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

from careledger.api import NodeServer
from careledger.config import NODE_WALLET
from careledger.node import Node
from tests.supplychain.conftest import SupplyNetwork


@dataclass
class Counter:
    """One node behind a server, and clients signed in as its operator, a staff member and a stranger (a patient of
    the node, of its staff no more than anyone)."""

    node: Node
    server: NodeServer
    operator: httpx.Client
    staff: httpx.Client
    stranger: httpx.Client
    staff_address: str
    stranger_address: str
    patient_id: str  # the stranger's Patient record here

    @property
    def url(self) -> str:
        return self.server.url

    def anonymous(self) -> httpx.Client:
        """A client with no token."""
        return httpx.Client(base_url=self.url, timeout=60)

    def scoped(self, client: httpx.Client, *scopes: str) -> httpx.Client:
        """`client`'s user with a token of `scopes` only (a SMART app's, granted less than she may do)."""
        auth = self.server.auth
        caller = auth.caller(client.headers["Authorization"])
        token = auth.issue(replace(caller, scopes=frozenset(scopes)))
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


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
def reachable(node: Node) -> Iterator[str]:
    """`node` behind a server, its endpoint on chain for as long as it serves (then none again, as the network's
    nodes have): other nodes reach it as they would a real one (a shipment's notice, a verification request)."""
    server = NodeServer(node, port=0)
    server.start()
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    try:
        registry.update(server.url)
        yield server.url
    finally:
        registry.update("")
        server.stop()


@contextmanager
def counter(net: SupplyNetwork, node: Node, name: str) -> Iterator[Counter]:
    """`node` of `net` behind a server, with its operator, one of its staff (`SupplyNetwork.staff`) and a patient
    of its own (a wallet registered on chain, her Patient record here: `name`) signed in."""
    staff = net.staff(node, f"{name}-staff")
    patient = net.patient(node, name, registered=True)
    with ExitStack() as stack:
        server = NodeServer(node, port=0)
        server.start()
        stack.callback(server.stop)
        clients = [
            stack.enter_context(login(server, node, node.unlock(wallet).account))
            for wallet in (NODE_WALLET, f"{name}-staff", name)
        ]
        yield Counter(node, server, *clients, staff, patient, name)
