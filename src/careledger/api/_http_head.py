"""What comes before a request's body, bounded by the node itself: its size and the time it takes to arrive.

uvicorn's httptools protocol takes a header line of any length (httptools gathers it in memory until it ends) and
waits for a request's headers as long as they trickle in; a connection that sends nothing at all is held until the
client goes. One client could hold every connection the process can open with a header line every few seconds
(slowloris), or fill its memory with one endless line. A reverse proxy bounds both (nginx's
`large_client_header_buffers` and `client_header_timeout`), but `serve`'s port may be reached without one, so the
protocol here bounds them as nginx's defaults do:

    connection made ─┐                       ┌─ headers complete: the deadline is lifted, the request is served
    first byte of a request ─► deadline armed ┤
    bytes after an answer that begin none ─┘  ├─ HEAD_SECONDS pass first ─► 408, connection closed
    URL > LINE_BYTES ─► 414                   └─ a header line > LINE_BYTES, or URL and headers > HEAD_BYTES ─► 431

A refusal closes the connection: whatever else it carried is not read. Between requests on a kept-alive connection
uvicorn's own `timeout_keep_alive` applies, as before. A chunked body's framing (its chunk sizes and trailers) is
bounded as a head is; past HEAD_BYTES the connection is closed under the app reading it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

LINE_BYTES = 8 * 1024  # nginx: `large_client_header_buffers 4 8k`, a line (request line or header) at most 8 KiB
HEAD_BYTES = 4 * LINE_BYTES  # ... and four such buffers for the whole head
HEAD_SECONDS = 20.0  # a head is a few hundred bytes: 20 s is ample on any link a person uses (nginx waits 60 s)


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a head that is too long (414, 431) or too slow to arrive (408).

    A refusal found while an earlier request of the connection is still being answered (pipelining) waits for
    that answer: it is never written into another response, nor does it cut off a request the app has begun."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # from a request's first byte to the end of its headers
        self._in_message = False  # ... to the end of its body
        self._head_bytes = 0  # of the head being read, as the parser hands it over
        self._read_bytes = 0  # read from the socket since that head began: bounds a line the parser still gathers
        self._framing = 0  # read since the body's last bytes: chunk sizes and trailers, which no one else bounds
        self._refusal: tuple[int, str] | None = None  # found by a parser callback or the deadline; sent when free
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection must start its request within the deadline too (uvicorn waits for it forever)."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Nothing is refused on a connection that is gone."""
        self._lift()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Fed to the parser as uvicorn does; then a refusal found is sent (once the connection is free), a head
        or a body's framing still growing beyond its bound is cut before httptools gathers more of it, and bytes
        that began no request (blank lines after an answer, which cancel uvicorn's keep-alive timer) get the
        head's deadline."""
        if self._in_head:
            self._read_bytes += len(data)
        elif self._in_message:
            self._framing += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._refusal is None and self._in_head and self._read_bytes > HEAD_BYTES:
            self._refusal = (431, "The request's headers are too large.")
        if self._refusal is not None:
            self._refuse_when_free()
        elif self._in_message and not self._in_head and self._framing > HEAD_BYTES:
            self.transport.close()  # an endless chunk size or trailer: the app reading the body hears a disconnect
        elif not self._in_head and self._deadline is None and not self._busy():
            self._arm()

    def on_message_begin(self) -> None:
        """A request's first byte: its head must be whole within the deadline and the bounds."""
        super().on_message_begin()
        self._in_head = self._in_message = True
        self._head_bytes = self._read_bytes = self._framing = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        """The request line's URL, as it arrives (httptools hands it over in pieces): 414 beyond a line's bound."""
        super().on_url(url)
        self._head_bytes += len(url)
        if len(self.url) > LINE_BYTES and self._refusal is None:
            self._refusal = (414, "The request's URL is too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        """One whole header line: 431 beyond a line's bound, or the head's (trailers are bounded as framing)."""
        super().on_header(name, value)
        if not self._in_head:
            return
        line = len(name) + len(value) + 4  # "name: value\r\n"
        self._head_bytes += line
        if self._refusal is None and (line > LINE_BYTES or self._head_bytes > HEAD_BYTES):
            self._refusal = (431, "The request's headers are too large.")

    def on_headers_complete(self) -> None:
        """The head is whole: served unless a bound was crossed on the way (the request is then never started)."""
        self._in_head = False
        self._lift()
        if self._refusal is None:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Part of the body of a request that was not refused (a refused one is never started)."""
        self._framing = 0
        if self._refusal is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The end of a request that was not refused."""
        self._in_message = False
        if self._refusal is None:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        """An answer is out: the next pipelined request starts, or the refusal that waited for it is sent."""
        super().on_response_complete()
        if self._refusal is not None and not self._busy():
            self._refuse(*self._refusal)

    def _should_upgrade(self) -> bool:
        """A refused head is never upgraded to a WebSocket (it is answered with its refusal instead)."""
        return self._refusal is None and super()._should_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        if self._refusal is None:  # a refused upgrade is no unsupported one: its refusal says why
            super()._unsupported_upgrade_warning()

    def _busy(self) -> bool:
        """Whether an earlier request of this connection is still being answered, or waits its turn."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _arm(self) -> None:
        self._lift()
        self._deadline = self.loop.call_later(HEAD_SECONDS, self._too_slow)

    def _lift(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or not (self._in_head or not self._busy()):
            return
        if self._refusal is None:
            self._refusal = (408, "The request's headers did not arrive in time.")
        self._refuse_when_free()

    def _refuse_when_free(self) -> None:
        """The refusal now, or, while an earlier request is answered, once it is (reading stops meanwhile)."""
        if self._busy():
            self.flow.pause_reading()
        elif self._refusal is not None:
            self._refuse(*self._refusal)

    def _refuse(self, status: int, message: str) -> None:
        """`status` with `message` as plain text, and the connection closed."""
        self._lift()
        if self.transport.is_closing():
            return
        body = message.encode("ascii")
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
