"""The open limiter (`api/_limits.py`): unauthenticated requests paced per client, an IPv6 client by its /64."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from careledger.api._limits import BoundedRequests
from careledger.errors import CareLedgerError
from careledger.shared import Buckets
from careledger.store import Database


async def _served(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("ok")(scope, receive, send)


def _refusal(exc: CareLedgerError) -> Response:
    return PlainTextResponse(str(exc), status_code=429)


def _status(limiter: BoundedRequests, client: str) -> int:
    """The status `limiter` answers a GET of `/auth/nonce` from `client` with."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/auth/nonce", "headers": [], "client": (client, 40000)}
    asyncio.run(limiter(scope, receive, send))
    return int(sent[0]["status"])


def test_an_ipv6_host_is_paced_by_its_slash_64_not_by_each_address(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'node.db'}")
    db.migrate()
    try:
        limit = Buckets(db).limit("open", 60, burst=2)
        limiter = BoundedRequests(_served, max_body=1024, open_limiter=limit, error=_refusal)
        # One host holds a whole /64: a new address in it for each request is still the same client.
        assert [_status(limiter, f"2001:db8:1:2::{n:x}") for n in range(1, 4)] == [200, 200, 429]
        assert _status(limiter, "2001:db8:1:2:ffff:ffff:ffff:ffff") == 429
        assert _status(limiter, "2001:db8:1:3::1") == 200  # the next /64 is another client
        assert [_status(limiter, "192.0.2.7") for _ in range(3)] == [200, 200, 429]
        assert _status(limiter, "::ffff:192.0.2.7") == 429  # the same IPv4 client, written as IPv6
        assert _status(limiter, "192.0.2.8") == 200
    finally:
        db.close()
