"""Forwarded headers: believed only from the proxies an operator names, so nobody picks a fresh rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from careledger.api import NodeServer
from careledger.config import Settings
from careledger.testdata import scratch_node


@contextmanager
def _served(home: Path, proxies: list[str]) -> Iterator[str]:
    """A node whose open routes take one request at once, then one a minute, behind a real server."""
    settings = Settings(chain="memory", light_kdf=True, open_requests_per_minute=1, forwarded_allow_ips=proxies)
    with scratch_node(home, settings) as node:
        server = NodeServer(node, port=0)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def _nonces(url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client() as client:
        return [client.get(f"{url}/auth/nonce", headers={"X-Forwarded-For": ip}).status_code for ip in forwarded_for]


def test_a_forwarded_address_from_anyone_buys_no_fresh_limit(tmp_path: Path) -> None:
    with _served(tmp_path / "home", proxies=[]) as url:
        answers = _nonces(url, [f"203.0.113.{i}" for i in range(1, 31)])
    assert answers[0] == 200
    assert answers[1:].count(429) == 29


def test_a_configured_proxy_is_believed(tmp_path: Path) -> None:
    with _served(tmp_path / "home", proxies=["127.0.0.1"]) as url:
        answers = _nonces(url, ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1"])
    assert answers == [200, 200, 200, 429]
