"""How the workers of one node tell each other about their visit rooms: in one process, a list of handlers; across
the processes of `serve --workers N` (PostgreSQL), the database's LISTEN/NOTIFY.

```
worker 1: seat ─publish─► pg_notify(careledger_rooms_<schema>, event) ──► every worker's listening thread
worker 2: listener thread ─► handler(event) ─► its event loop ─► the seat the event names, if it is here
```

A NOTIFY payload is at most 8000 bytes; an event larger than that (an SDP offer with many codecs) travels as a
ticket in the database (`careledger.shared.Tickets`), taken once by the worker that holds its addressee. A
listener that lost its connection reconnects and hands its handlers a `resync` event: whatever it missed
meanwhile, each room is read afresh from the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text

from careledger.shared import Tickets
from careledger.store import Database

Event = dict[str, Any]
Handler = Callable[[Event], None]

RESYNC: Event = {"kind": "resync"}
# A NOTIFY payload stays below PostgreSQL's 8000 bytes; larger events go as tickets.
NOTIFY_BYTES = 7000
TICKET_SECONDS = 60.0
LISTEN_POLL_SECONDS = 1.0
RECONNECT_SECONDS = 1.0
_TICKET = "room-event"
_log = logging.getLogger("careledger.telehealth")


class Bus(Protocol):
    """Events to every worker of the node (this one included)."""

    def publish(self, event: Event) -> None:
        """Send `event` to every subscriber of every worker (blocking: call it off the event loop)."""

    def subscribe(self, handler: Handler) -> None:
        """Have `handler` called with every event, from whatever thread receives it."""

    def opened(self, event: Event) -> Event:
        """The event itself, its body fetched if it travelled as a ticket (None-bodied if another took it)."""

    def close(self) -> None:
        """Stop listening."""


class LocalBus:
    """The bus of a node served by one process (SQLite): handlers called directly."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def publish(self, event: Event) -> None:
        """Call every handler with `event`."""
        for handler in list(self._handlers):
            handler(event)

    def subscribe(self, handler: Handler) -> None:
        """Add `handler`."""
        self._handlers.append(handler)

    def opened(self, event: Event) -> Event:
        """`event` as it is: nothing travelled apart."""
        return event

    def close(self) -> None:
        """Nothing to stop."""


class PostgresBus:
    """The bus over PostgreSQL's LISTEN/NOTIFY, one channel per schema (each schema is a node of its own)."""

    def __init__(self, db: Database, tickets: Tickets) -> None:
        self._db = db
        self._tickets = tickets
        self._handlers: list[Handler] = []
        self._channel: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        """NOTIFY every worker; a large event's body is left as a ticket for its addressee."""
        payload = json.dumps(event, separators=(",", ":"))
        if len(payload.encode()) > NOTIFY_BYTES:
            secret = secrets.token_urlsafe(24)
            self._tickets.put(_TICKET, secret, {"message": event.get("message")}, TICKET_SECONDS)
            payload = json.dumps({**event, "message": None, "ticket": secret}, separators=(",", ":"))
        with self._db.writing() as connection:
            connection.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": self.channel, "payload": payload}
            )

    def subscribe(self, handler: Handler) -> None:
        """Add `handler`, starting the listening thread with the first."""
        with self._lock:
            self._handlers.append(handler)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="careledger-rooms", daemon=True)
                self._thread.start()

    def opened(self, event: Event) -> Event:
        """`event` with the body it left as a ticket, taken (only the addressee's worker asks)."""
        if "ticket" not in event:
            return event
        kept = self._tickets.take(_TICKET, str(event["ticket"]))
        return {**event, "message": kept.get("message") if kept else None}

    def close(self) -> None:
        """Stop the listening thread (within a poll)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=LISTEN_POLL_SECONDS * 3)

    @property
    def channel(self) -> str:
        """`careledger_rooms_<crc32 of the schema>`: nodes sharing a server in separate schemas hear only their own."""
        if self._channel is None:
            with self._db.reading() as connection:
                schema = str(connection.execute(text("SELECT current_schema()")).scalar())
            self._channel = f"careledger_rooms_{zlib.crc32(schema.encode()):08x}"
        return self._channel

    def _listen(self) -> None:
        """Hear the channel until closed; after a lost connection, listen again and tell the handlers to resync."""
        lost = False
        while not self._stop.is_set():
            try:
                connection = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                connection.detach()  # its own, never handed back to the pool with a LISTEN on it
                try:
                    connection.execute(text(f'LISTEN "{self.channel}"'))
                    if lost:
                        self._deliver(RESYNC)
                    self._hear(connection.connection.dbapi_connection)
                finally:
                    with contextlib.suppress(Exception):
                        connection.close()
            except Exception as exc:  # the database away (DBAPIError, OSError, psycopg's own): try again shortly
                if self._stop.is_set():
                    return
                _log.warning("visit rooms: lost the database's notifications (%s); listening again", type(exc).__name__)
            lost = True
            self._stop.wait(RECONNECT_SECONDS)

    def _hear(self, raw: Any) -> None:
        """Deliver each notification until closed (a psycopg connection's `notifies`, polled each second)."""
        while not self._stop.is_set():
            for notice in raw.notifies(timeout=LISTEN_POLL_SECONDS):
                try:
                    event = json.loads(notice.payload)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for handler in list(self._handlers):
            handler(event)
