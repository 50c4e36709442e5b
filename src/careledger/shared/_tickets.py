"""Short-lived tickets in the node's database: put by one worker, taken once by any.

```
put(kind, secret, value, ttl) ─ SHA-256(secret) ─► tickets (kind, key, value JSON, expires_at)
take(kind, secret) ─► DELETE … WHERE kind, key RETURNING value, expires_at ─► value if unexpired, else None
add(kind, secret, …) ─► INSERT … ON CONFLICT DO UPDATE … WHERE the old row expired RETURNING ─► first use?
```

`take` is one statement, so two workers racing for one code cannot both win: the database
deletes the row once. Keys are hashes of the secrets the holders show, so a copy of the
database holds no usable nonce, code or session. Rows past their expiry are refused as if
gone, and purged by whoever puts, at most once a minute per process.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update

from careledger.store import Database, dialect_insert
from careledger.store.models import Ticket

PURGE_SECONDS = 60.0
_TICKETS = Ticket.__table__


class Tickets:
    """Tickets of every kind, keyed by a hash of their secret, with an expiry each."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._purges = Purges()

    def put(self, kind: str, secret: str, value: dict[str, Any], ttl: float) -> None:
        """Keep `value` under `secret` for `ttl` seconds (a live ticket under the same secret is replaced)."""
        now = self._clock()
        row = {"kind": kind, "key": _key(secret), "value": json.dumps(value), "expires_at": now + ttl}
        insert = dialect_insert(self._db.backend)(_TICKETS).values(row)
        statement = insert.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at},
        )
        with self._db.writing() as connection:
            connection.execute(statement)
            if self._purges.due(now):
                connection.execute(delete(Ticket).where(Ticket.expires_at <= now))

    def add(self, kind: str, secret: str, ttl: float) -> bool:
        """Keep `secret` for `ttl` seconds if no live ticket has it: True the first time, False for a replay
        (a client assertion's id seen before it expired)."""
        now = self._clock()
        insert = dialect_insert(self._db.backend)(_TICKETS).values(
            kind=kind, key=_key(secret), value="{}", expires_at=now + ttl
        )
        statement = insert.on_conflict_do_update(
            index_elements=["kind", "key"],
            set_={"value": insert.excluded.value, "expires_at": insert.excluded.expires_at},
            where=_TICKETS.c.expires_at <= now,
        ).returning(_TICKETS.c.key)
        with self._db.writing() as connection:
            return connection.execute(statement).first() is not None

    def take(self, kind: str, secret: str) -> dict[str, Any] | None:
        """The value kept under `secret`, used up (whoever asks next gets None); None if none is live."""
        statement = (
            delete(Ticket)
            .where(Ticket.kind == kind, Ticket.key == _key(secret))
            .returning(Ticket.value, Ticket.expires_at)
        )
        with self._db.writing() as connection:
            found = connection.execute(statement).first()
        return _live(found, self._clock())

    def peek(self, kind: str, secret: str) -> dict[str, Any] | None:
        """The value kept under `secret`, left as it is; None if none is live."""
        statement = select(Ticket.value, Ticket.expires_at).where(Ticket.kind == kind, Ticket.key == _key(secret))
        with self._db.reading() as connection:
            found = connection.execute(statement).first()
        return _live(found, self._clock())

    def every(self, kind: str) -> list[dict[str, Any]]:
        """The value of every live ticket of `kind`, for a kind kept few (export jobs): an erasure looks for the
        ones that hold what it destroys."""
        statement = select(Ticket.value).where(Ticket.kind == kind, Ticket.expires_at > self._clock())
        with self._db.reading() as connection:
            return [json.loads(value) for value in connection.scalars(statement)]

    def replace(self, kind: str, secret: str, value: dict[str, Any], ttl: float) -> bool:
        """Put `value` under a live ticket, lasting `ttl` seconds from now; False (nothing put) if there is none, so
        a ticket another worker took stays gone."""
        now = self._clock()
        statement = (
            update(Ticket)
            .where(Ticket.kind == kind, Ticket.key == _key(secret), Ticket.expires_at > now)
            .values(value=json.dumps(value), expires_at=now + ttl)
        )
        with self._db.writing() as connection:
            return bool(connection.execute(statement).rowcount)

    def touch(self, kind: str, secret: str, ttl: float) -> bool:
        """Make a live ticket last `ttl` seconds from now; False if there is none."""
        now = self._clock()
        statement = (
            update(Ticket)
            .where(Ticket.kind == kind, Ticket.key == _key(secret), Ticket.expires_at > now)
            .values(expires_at=now + ttl)
        )
        with self._db.writing() as connection:
            return bool(connection.execute(statement).rowcount)


class Purges:
    """When this process purges expired rows of a table: at most once every `PURGE_SECONDS`, by whoever writes
    first after that (expired rows are refused anyway; purging only keeps the table small)."""

    def __init__(self) -> None:
        self._purged_at = float("-inf")
        self._lock = threading.Lock()

    def due(self, now: float) -> bool:
        """Whether to purge now (and if so, the next one is `PURGE_SECONDS` away)."""
        with self._lock:
            if now - self._purged_at < PURGE_SECONDS:
                return False
            self._purged_at = now
            return True


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _live(found: Any, now: float) -> dict[str, Any] | None:
    if found is None or found.expires_at <= now:
        return None
    value: dict[str, Any] = json.loads(found.value)
    return value
