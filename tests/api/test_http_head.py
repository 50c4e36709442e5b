"""A request's head bounded by the server itself (`api._http_head`): too long is 414 or 431, too slow is 408, and
the connection is closed; a request whose head came whole in time is served however long its answer takes.

A real uvicorn server with the node's protocol, on a socket of its own, around an app that counts what reaches
it; the deadline is shortened for the module so that a slow client is seen in well under a second.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from careledger.api import _http_head
from careledger.api._http_head import HEAD_BYTES, LINE_BYTES, BoundedHead

DEADLINE = 0.6  # seconds, for this module (the node's is `HEAD_SECONDS`)
SLACK = 4.5  # seconds by which a connection the deadline ends is closed, on a loaded CI; under uvicorn's 5 s keep-alive
_LINES_OF_4000 = b"X-Line: " + b"a" * 4000 + b"\r\n"  # ten of them pass the head's bound, none a line's


class _App:
    """Answers 200 after `delay` seconds when the path is /slow, at once otherwise; counts the requests it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        self.seen.append(scope["path"])
        if scope["path"] == "/slow":
            await asyncio.sleep(DEADLINE * 2)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[tuple[str, int], _App]]:
    app = _App()
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=BoundedHead, log_level="error", lifespan="off"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_http_head, "HEAD_SECONDS", DEADLINE)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        yield listening.getsockname(), app
        server.should_exit = True
        thread.join(5)


def exchange(address: tuple[str, int], *parts: bytes, pause: float = 0.0) -> tuple[bytes, float]:
    """Send `parts` (sleeping `pause` between them) and read until the server closes; what came back, and how
    long after the first part the connection ended. A server that closes while parts remain stops the sending."""
    with socket.create_connection(address, timeout=10) as client:
        started = time.monotonic()
        try:
            for part in parts:
                client.sendall(part)
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := client.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer, time.monotonic() - started


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_request_whose_head_is_within_bounds_is_served_and_kept_alive(served: tuple[tuple[str, int], _App]) -> None:
    address, app = served
    near = b"X-Near: " + b"a" * (LINE_BYTES - 20) + b"\r\n"  # a line just under the bound
    two = b"GET /one HTTP/1.1\r\nHost: a\r\n" + near + b"\r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    answer, _ = exchange(address, two)
    assert answer.count(b"HTTP/1.1 200") == 2
    assert app.seen[-2:] == ["/one", "/two"]


def test_an_answer_slower_than_the_deadline_is_not_cut(served: tuple[tuple[str, int], _App]) -> None:
    """The deadline is the head's: once it is whole, the request takes what it takes."""
    address, _ = served
    answer, took = exchange(address, b"GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert _status(answer) == 200
    assert took >= DEADLINE * 2


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /" + b"a" * (LINE_BYTES + 1) + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * LINE_BYTES + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + _LINES_OF_4000 * 10 + b"\r\n", 431),
    ],
    ids=["url", "header line", "head"],
)
def test_a_head_beyond_its_bounds_is_refused_and_never_served(
    served: tuple[tuple[str, int], _App], head: bytes, status: int
) -> None:
    address, app = served
    before = len(app.seen)
    answer, _ = exchange(address, head)
    assert _status(answer) == status
    assert b"connection: close" in answer.lower()
    assert len(app.seen) == before


def test_an_endless_header_line_is_refused_long_before_it_ends(served: tuple[tuple[str, int], _App]) -> None:
    """10 MB of one header line: refused once the head passes its bound (plus what one read brings), not gathered
    whole; the sender is stopped by the closed connection."""
    address, app = served
    before = len(app.seen)
    chunks = [b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: "] + [b"a" * 65536] * 160
    answer, _ = exchange(address, *chunks)
    assert _status(answer) == 431
    assert len(app.seen) == before
    assert HEAD_BYTES < 10 * 2**20


def test_a_head_that_trickles_in_is_408_at_the_deadline(served: tuple[tuple[str, int], _App]) -> None:
    """A header line every tenth of a second (each resets no timer): 408 at the deadline, never served."""
    address, app = served
    before = len(app.seen)
    lines = [b"GET / HTTP/1.1\r\n"] + [b"X-Drip: %d\r\n" % n for n in range(40)]
    answer, took = exchange(address, *lines, pause=0.1)
    assert _status(answer) == 408
    assert DEADLINE * 0.9 <= took < SLACK
    assert len(app.seen) == before


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(served: tuple[tuple[str, int], _App]) -> None:
    address, _ = served
    answer, took = exchange(address)
    assert _status(answer) == 408
    assert DEADLINE * 0.9 <= took < SLACK


def test_a_blank_line_after_an_answer_does_not_hold_the_connection(served: tuple[tuple[str, int], _App]) -> None:
    """A byte that begins no request cancels uvicorn's keep-alive timer: the head's deadline takes over."""
    address, _ = served
    answer, took = exchange(address, b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n", b"\r\n", pause=0.2)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 408 " in answer
    assert took < SLACK  # not uvicorn's 5 s keep-alive (which the blank line cancelled), nor forever


def test_an_oversized_websocket_handshake_is_refused_like_any_head(served: tuple[tuple[str, int], _App]) -> None:
    address, app = served
    before = len(app.seen)
    handshake = (
        b"GET /room HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"X-Big: " + b"a" * (LINE_BYTES + 1) + b"\r\n\r\n"
    )
    answer, _ = exchange(address, handshake)
    assert _status(answer) == 431
    assert len(app.seen) == before


def test_a_refusal_waits_for_the_answer_before_it_on_the_connection(served: tuple[tuple[str, int], _App]) -> None:
    """Pipelined after a request the app is answering: that answer comes whole first, then the refusal (a 414 at
    once, or a 408 for a second head that stopped), never one written into the other."""
    address, _ = served
    slow = b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
    for after, status in (
        (b"GET /" + b"a" * (LINE_BYTES + 1) + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /x HTTP/1.1\r\n", 408),
    ):
        answer, _ = exchange(address, slow + after)
        first, _, rest = answer.partition(b"\r\n\r\nok")
        assert _status(first) == 200
        assert _status(rest) == status


def test_an_endless_trailer_is_cut_off_not_gathered(served: tuple[tuple[str, int], _App]) -> None:
    """A chunked body's trailer is a header httptools gathers like any other: cut once past a head's bound."""
    address, _ = served
    sent = 0
    with socket.create_connection(address, timeout=10) as client:
        client.sendall(b"POST /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: ")
        try:
            for _ in range(160):  # 10 MB
                client.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < 4 * 2**20


def test_a_body_finished_after_its_answer_does_not_hold_the_connection(served: tuple[tuple[str, int], _App]) -> None:
    """An app that answers before the body is all in (a body that came too slowly, or too large): the rest, sent
    afterwards, begins no request and cancels uvicorn's keep-alive timer; the head's deadline ends the connection."""
    address, _ = served
    with socket.create_connection(address, timeout=10) as client:
        client.sendall(b"POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nA")
        assert client.recv(65536).startswith(b"HTTP/1.1 200 ")
        client.sendall(b"B" * 9)
        started = time.monotonic()
        while client.recv(65536):
            pass
        assert time.monotonic() - started < SLACK
