"""A node whose PostgreSQL goes away answers 503 with `Retry-After` on every route, and serves again when it returns.

The node reaches PostgreSQL through a TCP proxy of the test's own, which the test closes (every connection cut,
new ones refused) and opens again on the same port: the machine's PostgreSQL is never stopped.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from careledger.api import NodeServer
from careledger.config import NODE_WALLET, Settings
from careledger.identity import Role
from careledger.testdata import PASSPHRASE, scratch_node
from tests.conftest import PG_URL, _postgres_schema
from tests.outside_wallet import signed_in_message
from tests.shared.test_workers import _CSRF

pytestmark = pytest.mark.postgres
DOMAIN = "node.test"


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection closed, new ones refused) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.serving = False
        self.port = 0
        self.open()

    def open(self) -> None:
        """Listen (on the same port as before, once it had one) and forward each connection."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self.serving = True
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and close every open one, as a database that went away."""
        assert self._listener is not None
        self._listener.close()
        self.serving = False
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            with self._lock:
                self._sockets.update((client, server))
            for one, other in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(one, other), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Served:
    url: str
    proxy: Proxy
    alice: LocalAccount


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    schemas = _postgres_schema()
    schema = next(schemas)
    where = urlsplit(PG_URL)
    proxy = Proxy((where.hostname or "127.0.0.1", where.port or 5432))
    database = f"{PG_URL.replace(where.netloc, f'postgres@127.0.0.1:{proxy.port}')}?options=-csearch_path%3D{schema}"
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
            if not proxy.serving:  # a test failed while it was cut: the node closes through it
                proxy.open()
            server.stop()
    next(schemas, None)


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
        for path, headers in (("/Patient", bearer), ("/Observation?code=x", bearer), ("/auth/nonce", {})):
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
        served.proxy.open()
        deadline = time.monotonic() + 10
        while (answer := browser.get("/Patient", headers=bearer)).status_code != 200 and time.monotonic() < deadline:
            assert answer.status_code == 503  # a pooled connection found dead on its first use: still not a 500
            time.sleep(0.2)
        assert answer.status_code == 200
        assert browser.get("/portal/records").status_code == 200
