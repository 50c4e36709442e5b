"""Which of a node's workers does the background work: a PostgreSQL session advisory lock.

```
worker A ─try_lead()─► pg_try_advisory_lock(key) on its own connection ─► true: leads
worker B ─try_lead()─► pg_try_advisory_lock(key)                      ─► false: serves only
worker A dies ─► its connection closes ─► the lock is free ─► B's next try_lead() leads
```

The lock lives as long as the one connection that took it, so a worker that is killed (no
chance to let go) frees it the moment its socket closes. The key is fixed per schema, so
nodes sharing one server in separate schemas (as tests do) elect their leaders apart.
On SQLite there is one worker, and it always leads.
"""

from __future__ import annotations

import contextlib
import threading
import zlib

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from careledger.store._database import Database

# The advisory lock's first key: "CLld" — CareLedger's leader. The second is the schema's.
LOCK_CLASS = 0x434C6C64


class Leadership:
    """Whether this process leads its node's background work (anchoring, recording, follow-up)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._shared = db.backend == "postgresql"
        self._held: Connection | None = None
        self._lock = threading.Lock()
        self._key: int | None = None

    @property
    def leading(self) -> bool:
        """True while this process holds the lock (on SQLite: always)."""
        return not self._shared or self._held is not None

    def try_lead(self) -> bool:
        """Take the lead if no one holds it; when already leading, confirm the lock's connection still lives
        (a PostgreSQL that restarted has dropped it, and with it the lead). Whether this process leads now."""
        if not self._shared:
            return True
        with self._lock:
            if self._held is not None and self._alive(self._held):
                return True
            self._drop()
            try:
                connection = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except DBAPIError:
                return False  # the database is away: no one here leads until it is back
            try:
                connection.detach()  # its own for as long as it leads: never handed back to the pool with the lock
                key = self._key_of(connection)
                won = bool(
                    connection.execute(
                        text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": LOCK_CLASS, "k": key}
                    ).scalar()
                )
            except DBAPIError:
                connection.close()
                return False
            if won:
                self._held = connection
            else:
                connection.close()
            return won

    def held_anywhere(self) -> bool:
        """Whether some process (this one or another) leads now: what readiness reports. Asked of
        `pg_locks` on a pooled connection; `DBAPIError` propagates when the database is away."""
        if not self._shared:
            return True
        with self._db.reading() as connection:
            key = self._key_of(connection)
            found = connection.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :c AND objid = :k AND objsubid = 2"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
                ),
                {"c": LOCK_CLASS, "k": key},
            ).scalar()
        return bool(found)

    def release(self) -> None:
        """Stop leading (at shutdown, after the last anchoring), so another worker takes over at once."""
        if not self._shared:
            return
        with self._lock:
            if self._held is not None:
                with contextlib.suppress(DBAPIError):  # a connection that is gone took the lock with it
                    self._held.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": LOCK_CLASS, "k": self._key})
            self._drop()

    def _key_of(self, connection: Connection) -> int:
        """The lock's second key, from the schema the node's tables live in (a non-negative int4)."""
        if self._key is None:
            schema = str(connection.execute(text("SELECT current_schema()")).scalar())
            self._key = zlib.crc32(schema.encode()) & 0x7FFFFFFF
        return self._key

    @staticmethod
    def _alive(connection: Connection) -> bool:
        try:
            connection.execute(text("SELECT 1"))
        except DBAPIError:
            return False
        return True

    def _drop(self) -> None:
        if self._held is not None:
            with contextlib.suppress(DBAPIError):
                self._held.close()
            self._held = None
