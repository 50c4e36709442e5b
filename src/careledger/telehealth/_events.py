"""Notifications to signed-in people's streams (`message`, `reminder`, `visit`), from whichever worker wrote them.

```
publish(wallet, kind, data) ─the node's bus (`_bus`: in process; PostgreSQL's LISTEN/NOTIFY across workers)─┐
subscribe(wallet) ─► a bounded queue ◄─ each worker hears every notification, keeps those of its streams ◄──┘
stream(subscription) ─► a face's server-sent event stream
```

A notification carries the reader's blind token (`Readers`), never her wallet, and no message text: a thread's
id and an unread count, which tell a listener on the database's channel nothing a copy of the receipts table
would not. It travels on the same bus as the visit rooms' events (which ignore its kind), so a worker listens
on one connection for both. Each wallet holds at most `MAX_STREAMS` streams per worker; a full queue drops what
comes next (the next event, or the client's next connection, brings the counts anew).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from careledger.errors import TooMany
from careledger.telehealth._bus import Bus
from careledger.telehealth._receipts import Readers

MAX_STREAMS = 4  # per wallet, per worker: a few tabs, not a flood
QUEUE_SIZE = 64
HEARTBEAT_SECONDS = 15.0
NOTIFICATION = "notification"  # the bus event kind of a notification


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

    def __init__(self, bus: Bus, readers: Readers) -> None:
        self._bus = bus
        self._readers = readers
        self._streams: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()
        self._hearing = False

    def publish(self, wallet: str, kind: str, data: dict[str, Any]) -> None:
        """Notify `wallet`'s streams, at every worker, of `kind` with `data` (ids and counts: no text); blocking
        (on PostgreSQL a NOTIFY), so called off the event loop."""
        self._bus.publish({"kind": NOTIFICATION, "to": self._readers.token(wallet), "event": kind, "data": data})

    def subscribe(self, wallet: str, loop: asyncio.AbstractEventLoop) -> Subscription:
        """A stream of `wallet`'s notifications; `TooMany` past `MAX_STREAMS` at this worker."""
        token = self._readers.token(wallet)
        subscription = Subscription(token, loop, self._unsubscribe)
        with self._lock:
            held = self._streams.setdefault(token, set())
            if len(held) >= MAX_STREAMS:
                raise TooMany(f"at most {MAX_STREAMS} notification streams at once: close one first", retry_after=5.0)
            held.add(subscription)
            hear, self._hearing = not self._hearing, True
        if hear:  # the bus's listener starts with its first handler: not before anyone streams
            self._bus.subscribe(self._heard)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            held = self._streams.get(subscription.token, set())
            held.discard(subscription)
            if not held:
                self._streams.pop(subscription.token, None)

    def _heard(self, note: dict[str, Any]) -> None:
        """A bus event: a notification goes to this worker's streams of its reader; anything else is not ours."""
        if note.get("kind") != NOTIFICATION:
            return
        with self._lock:
            streams = list(self._streams.get(str(note.get("to")), ()))
        data = note.get("data")
        event = Event(str(note.get("event")), data if isinstance(data, dict) else {})
        for subscription in streams:
            subscription.deliver(event)


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
