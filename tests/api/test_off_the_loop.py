"""What strangers reach runs its database work off the event loop: a PostgreSQL that stops answering holds up the
requests that wait for it, never the worker's other requests (`/healthz` among them)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from careledger.api import NodeServer
from careledger.config import Settings
from careledger.testdata import scratch_node
from tests.tcp_proxy import postgres_behind_proxy

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("path", ["/auth/nonce", "/portal/signin"])
def test_a_request_waiting_on_a_hung_database_leaves_the_worker_answering(tmp_path: Path, path: str) -> None:
    with (
        postgres_behind_proxy() as (proxy, url),
        scratch_node(tmp_path / "home", Settings(chain="memory", db=url, light_kdf=True)) as node,
    ):
        server = NodeServer(node, port=0)
        server.start()
        try:
            assert httpx.get(f"{server.url}{path}").status_code == 200
            proxy.hang()
            stuck = threading.Thread(target=lambda: httpx.get(f"{server.url}{path}", timeout=60), daemon=True)
            stuck.start()
            time.sleep(0.5)  # the open limiter's count (and the nonce) now wait on the database
            assert stuck.is_alive()
            started = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 1.0
        finally:
            proxy.unhang()
            proxy.cut()  # the waiting statements fail at once, and the server stops
            server.stop()
