"""Notifications to signed-in people's streams (`message`, `reminder`, `visit`), from whichever worker wrote them.

```
publish(wallet, kind, data) ─SQLite: one process─────────────────────────► this worker's streams of the wallet
                            └PostgreSQL: pg_notify(channel, token+kind+data) ─LISTEN (one thread per worker)─┘
subscribe(wallet) ─► a bounded queue read by the face's server-sent event stream (`stream`)
```

A notification carries the reader's blind token (`Readers`), never her wallet, and no message text: a thread's
id and an unread count, which tell a listener on the database's channel nothing a copy of the receipts table
would not. `serve --workers N` runs on PostgreSQL, so a message written at one worker reaches a stream held at
another; on SQLite there is one worker, and a notification goes straight to its streams. Each wallet holds at
most `MAX_STREAMS` streams per worker; a full queue drops what comes next (the next event or the client's next
reload brings the counts anew).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from careledger.errors import TooMany
from careledger.store import Database
from careledger.telehealth._receipts import Readers

MAX_STREAMS = 4  # per wallet, per worker: a few tabs, not a flood
QUEUE_SIZE = 64
HEARTBEAT_SECONDS = 15.0
_RECONNECT_SECONDS = 1.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One notification: its kind (`message`, `reminder`, `visit`) and what it says (ids and counts only)."""

    kind: str
    data: dict[str, Any]

    def sse(self) -> str:
        """As a server-sent event."""
        return f"event: {self.kind}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n"


@dataclass(eq=False)
class Subscription:
    """One stream's queue, filled from any thread through its event loop."""

    token: str
    loop: asyncio.AbstractEventLoop
    closed: Callable[[Subscription], None]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def deliver(self, event: Event) -> None:
        """Hand `event` to the stream's loop (from any thread); dropped if the queue is full."""
        self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: Event) -> None:
        if not self.queue.full():
            self.queue.put_nowait(event)

    def close(self) -> None:
        """End the subscription: its stream is gone, and its place counts no more toward `MAX_STREAMS`."""
        self.closed(self)


class Events:
    """The node's notification hub: publish to a wallet, subscribe a stream of one."""

    def __init__(self, db: Database, readers: Readers, *, channel_of: str) -> None:
        """`channel_of`: what names this node's PostgreSQL channel (its address), apart from other nodes'."""
        self._db = db
        self._readers = readers
        self._channel = "careledger_" + hashlib.sha256(channel_of.lower().encode()).hexdigest()[:20]
        self._streams: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def publish(self, wallet: str, kind: str, data: dict[str, Any]) -> None:
        """Notify `wallet`'s streams, at every worker, of `kind` with `data` (ids and counts: no text)."""
        note = {"to": self._readers.token(wallet), "kind": kind, "data": data}
        if self._db.backend != "postgresql":
            self._dispatch(note)
            return
        with self._db.writing() as connection:
            connection.execute(
                text("SELECT pg_notify(:channel, :note)"), {"channel": self._channel, "note": json.dumps(note)}
            )

    def subscribe(self, wallet: str, loop: asyncio.AbstractEventLoop) -> Subscription:
        """A stream of `wallet`'s notifications; `TooMany` past `MAX_STREAMS` at this worker."""
        token = self._readers.token(wallet)
        subscription = Subscription(token, loop, self._unsubscribe)
        with self._lock:
            held = self._streams.setdefault(token, set())
            if len(held) >= MAX_STREAMS:
                raise TooMany(f"at most {MAX_STREAMS} notification streams at once: close one first", retry_after=5.0)
            held.add(subscription)
            if self._db.backend == "postgresql" and self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="careledger-events", daemon=True)
                self._listener.start()
        return subscription

    def close(self) -> None:
        """Stop listening (the listener's thread ends within a second)."""
        self._stop.set()

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            held = self._streams.get(subscription.token, set())
            held.discard(subscription)
            if not held:
                self._streams.pop(subscription.token, None)

    def _dispatch(self, note: dict[str, Any]) -> None:
        with self._lock:
            streams = list(self._streams.get(str(note.get("to")), ()))
        event = Event(str(note.get("kind")), dict(note.get("data") or {}))
        for subscription in streams:
            subscription.deliver(event)

    def _listen(self) -> None:
        """LISTEN on the node's channel until closed, on a connection of its own (opened again if it drops)."""
        while not self._stop.is_set():
            try:
                with self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text(f"LISTEN {self._channel}"))
                    self._receive(connection)
            except Exception:  # a dropped connection: listen again shortly
                _log.warning("notification listener lost its connection; listening again", exc_info=True)
                self._stop.wait(_RECONNECT_SECONDS)

    def _receive(self, connection: Connection) -> None:
        raw = connection.connection.driver_connection
        while not self._stop.is_set():
            for notify in raw.notifies(timeout=1.0):  # type: ignore[union-attr]
                try:
                    self._dispatch(json.loads(notify.payload))
                except (ValueError, AttributeError):
                    continue


async def stream(
    subscription: Subscription,
    first: list[Event],
    signed_in: Callable[[], Awaitable[bool]],
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
    until: float | None = None,
) -> AsyncIterator[str]:
    """A server-sent event stream of `subscription`: `first` at once, then each notification, a comment every
    `heartbeat` seconds; it ends (with an `end` event) once `signed_in()` says the session ended (signed out,
    revoked) or at `until` (the session's expiry), and frees the subscription however it ends."""
    try:
        yield ": connected\n\n"
        for event in first:
            yield event.sse()
        while True:
            left = heartbeat if until is None else min(heartbeat, until - time.time())
            try:
                event = await asyncio.wait_for(subscription.queue.get(), max(left, 0.0))
            except TimeoutError:
                if (until is not None and time.time() >= until) or not await signed_in():
                    yield Event("end", {"reason": "the session ended"}).sse()
                    return
                yield ": keep-alive\n\n"
                continue
            yield event.sse()
    finally:
        subscription.close()
