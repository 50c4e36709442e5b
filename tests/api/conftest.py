from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from siwe import SiweMessage

from careledger.api import NodeServer
from careledger.config import Settings
from careledger.identity import Wallet
from careledger.testdata import scratch_node
from tests.access.conftest import World, world  # noqa: F401 - the world fixture, shared
from tests.conftest import PG_URL, _postgres_schema


@dataclass
class Api:
    """A running node server and the world behind it, with a sign-in helper."""

    server: NodeServer
    world: World

    @property
    def url(self) -> str:
        return self.server.url

    def siwe_message(self, account: LocalAccount, *, domain: str | None = None, chain_id: int | None = None) -> str:
        nonce = httpx.get(f"{self.url}/auth/nonce").json()["nonce"]
        message = SiweMessage(
            domain=domain or self.server.domain,
            address=account.address,
            statement="Sign in to CareLedger",
            uri=self.url,
            version="1",
            chain_id=chain_id or self.world.node.chain.chain_id,
            nonce=nonce,
            issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        return str(message.prepare_message())

    def login_response(self, account: LocalAccount, message: str) -> httpx.Response:
        signature = account.sign_message(encode_defunct(text=message)).signature.hex()
        return httpx.post(f"{self.url}/auth/login", json={"message": message, "signature": "0x" + signature})

    def client(self, wallet: Wallet) -> httpx.Client:
        """An HTTP client signed in as `wallet`."""
        account = self.world.node.unlock(wallet.name).account
        response = self.login_response(account, self.siwe_message(account))
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@contextmanager
def serving(world: World) -> Iterator[Api]:  # noqa: F811 - a parameter named like the imported fixture
    """`world`'s node behind a real HTTP server on a free port, for as long as the block runs."""
    server = NodeServer(world.node, port=0)
    server.start()
    try:
        yield Api(server, world)
    finally:
        server.stop()


@pytest.fixture
def api(world: World) -> Iterator[Api]:  # noqa: F811 - uses the imported fixture
    with serving(world) as api:
        yield api


@contextmanager
def served_on_postgres(home: Path) -> Iterator[NodeServer]:
    """A scratch node at `home` on a fresh PostgreSQL schema, behind a real HTTP server (`.node` is the node), for
    what fails only where PostgreSQL is (skipped without a server, but not in CI)."""
    for schema in _postgres_schema():
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        with scratch_node(home, Settings(chain="memory", db=url, light_kdf=True)) as node:
            server = NodeServer(node, port=0)
            server.start()
            try:
                yield server
            finally:
                server.stop()
