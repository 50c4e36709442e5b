"""A node whose PostgreSQL goes away answers 503 with `Retry-After` on every route, and serves again when it returns.

The node reaches PostgreSQL through a TCP proxy (`tests.tcp_proxy`), which the test cuts (every connection closed,
new ones refused) and restores on the same port: the machine's PostgreSQL is never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from careledger.api import NodeServer
from careledger.config import NODE_WALLET, Settings
from careledger.identity import Role
from careledger.testdata import PASSPHRASE, scratch_node
from tests.outside_wallet import signed_in_message
from tests.shared.test_workers import _CSRF
from tests.tcp_proxy import TcpProxy, postgres_behind_proxy

pytestmark = pytest.mark.postgres
DOMAIN = "node.test"


@dataclass
class Served:
    url: str
    proxy: TcpProxy
    alice: LocalAccount


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with postgres_behind_proxy() as (proxy, database):
        settings = Settings(chain="memory", light_kdf=True, db=database, anchor_in_background=False)
        with scratch_node(Path(tmp_path_factory.mktemp("outage")) / "home", settings) as node:
            wallet = node.wallets.create("alice", Role.PATIENT, PASSPHRASE)
            node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
                wallet.address, wallet.role, wallet.encryption_key
            )
            server = NodeServer(node, port=0, domain=DOMAIN)
            server.start()
            try:
                yield Served(server.url, proxy, node.unlock("alice").account)
            finally:
                server.stop()


def test_an_outage_is_503_with_retry_after_on_every_route_and_then_passes(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers={"Origin": f"http://{DOMAIN}"}) as browser:
        csrf = _CSRF.findall(browser.get("/portal/signin").text)[0]
        message, signature = signed_in_message(served.url, served.alice)
        form = {"csrf": csrf, "message": message, "signature": signature}
        assert browser.post("/portal/signin", data=form).status_code == 303
        bearer = {"Authorization": f"Bearer {browser.cookies['careledger_session']}"}
        assert browser.get("/Patient", headers=bearer).status_code == 200
        served.proxy.cut()
        time.sleep(1.1)  # past the second a worker keeps the token revocations it read
        reads = (("/Patient", bearer), ("/Observation?code=x", bearer), ("/Observation/unknown-id", bearer))
        for path, headers in (*reads, ("/auth/nonce", {})):
            answer = browser.get(path, headers=headers)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["Retry-After"] == "5"
            outcome = answer.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["code"] == "transient"
            assert "database is not answering" in outcome["issue"][0]["diagnostics"]
        page = browser.get("/portal/records")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["Retry-After"] == "5"
        assert "database is not answering" in page.text
        served.proxy.restore()
        deadline = time.monotonic() + 10
        while (answer := browser.get("/Patient", headers=bearer)).status_code != 200 and time.monotonic() < deadline:
            assert answer.status_code == 503  # a pooled connection found dead on its first use: still not a 500
            time.sleep(0.2)
        assert answer.status_code == 200
        assert browser.get("/portal/records").status_code == 200
        for _ in range(20):  # every pooled connection a read by id may take (its lookup runs on psycopg directly)
            assert browser.get("/Observation/unknown-id", headers=bearer).status_code == 404
