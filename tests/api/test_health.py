"""`/healthz` and `/readyz`: alive without asking anything; ready only while PostgreSQL and the chain answer."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from careledger.api import NodeServer, free_port
from careledger.config import Settings
from careledger.testdata import scratch_node
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.tcp_proxy import postgres_behind_proxy

ANVIL = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"


def ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=30)


def until(url: str, status: int, within: float = 20.0) -> httpx.Response:
    """Poll `/readyz` until it answers `status` (or fail after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        response = ready(url)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.25)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(tmp_path_factory.mktemp("health") / "home") as world, serving(world) as api:
        yield api


def test_healthz_is_alive_without_a_sign_in(api: Api) -> None:
    response = httpx.get(f"{api.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_each_part_and_nothing_sensitive(api: Api) -> None:
    response = ready(api.url)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "chain", "blobs", "leader"}
    assert all(check == {"ok": True, "detail": "ok"} for check in body["checks"].values())
    node = api.world.node
    for secret in (str(node.home.path), node.address, "sqlite"):
        assert secret not in response.text


def test_readyz_refuses_to_be_written_to(api: Api) -> None:
    assert httpx.post(f"{api.url}/readyz").status_code == 405


@pytest.mark.postgres
def test_readyz_is_503_while_postgresql_is_away_and_200_when_it_is_back(tmp_path: Path) -> None:
    with (
        postgres_behind_proxy() as (proxy, url),
        scratch_node(tmp_path / "home", Settings(chain="memory", db=url, light_kdf=True)) as node,
    ):
        server = NodeServer(node, port=0)
        server.start()
        try:
            assert ready(server.url).status_code == 200

            proxy.cut()  # PostgreSQL goes away
            started = time.monotonic()
            away = until(server.url, 503)
            assert time.monotonic() - started < 10
            assert away.json()["failed"] == ["database"] or "database" in away.json()["failed"]
            assert away.json()["checks"]["database"]["ok"] is False
            assert "127.0.0.1" not in away.text
            assert "postgres" not in away.text.lower()
            assert away.json()["checks"]["chain"]["ok"] is True  # only what failed is named

            proxy.restore()  # and comes back
            until(server.url, 200)

            proxy.hang()  # accepts, then never answers: /readyz must not hang with it
            time.sleep(0.1)
            started = time.monotonic()
            hung = ready(server.url)
            elapsed = time.monotonic() - started
            assert hung.status_code == 503
            assert hung.json()["checks"]["database"]["detail"].startswith("no answer within")
            assert elapsed < node.settings.ready_timeout + 1.5
            proxy.cut()
            proxy.restore()
            until(server.url, 200)
        finally:
            proxy.unhang()  # a failed assertion must not leave the server's last anchoring hanging
            server.stop()


class Anvil:
    """An anvil on a fixed port with its state in a file, stopped and started again by the test."""

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.state = state
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [str(ANVIL), "--port", str(self.port), "--state", str(self.state), "--silent"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}, timeout=1)
                return
            assert time.monotonic() < deadline, "anvil did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # anvil writes its state on SIGTERM
            self.process.wait(15)
            self.process = None


@pytest.mark.anvil
@pytest.mark.skipif(not os.access(ANVIL, os.X_OK), reason="anvil is not installed (npm install)")
def test_readyz_is_503_while_the_chain_is_away_and_200_when_it_is_back(tmp_path: Path) -> None:
    anvil = Anvil(tmp_path / "anvil-state.json")
    anvil.start()
    try:
        with scratch_node(tmp_path / "home", Settings(chain=anvil.url, light_kdf=True)) as node:
            server = NodeServer(node, port=0)
            server.start()
            try:
                assert ready(server.url).status_code == 200
                anvil.stop()
                away = until(server.url, 503)
                assert away.json()["failed"] == ["chain"]
                assert str(anvil.port) not in away.text
                anvil.start()
                back = until(server.url, 200)
                assert back.json()["checks"]["chain"] == {"ok": True, "detail": "ok"}
            finally:
                server.stop()
    finally:
        anvil.stop()
