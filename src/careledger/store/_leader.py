"""Which of a node's workers does the background work: a PostgreSQL session advisory lock.

```
worker A ─try_lead()─► pg_try_advisory_lock(key) on its own connection ─► true: leads
worker B ─try_lead()─► pg_try_advisory_lock(key)                      ─► false: serves only
worker A dies ─► its connection closes ─► the lock is free ─► B's next try_lead() leads
```

The lock lives as long as the one connection that took it, so a worker that is killed (no
chance to let go) frees it the moment its socket closes. The key is fixed per schema, so
nodes sharing one server in separate schemas (as tests do) elect their leaders apart.
On SQLite there is one worker, and it always leads. `one_at_a_time` is the same kind of lock
for one transaction, for work every worker does (indexing the same chain events).

A lock connection that stops answering must not leave a leader that does nothing. Its session
asks PostgreSQL to probe it (server-side keepalives after 5 s idle, `tcp_user_timeout`), so a
leader whose host vanished loses the lock within seconds, not the kernel's two hours; and each
question on it is bounded here (`ANSWER_SECONDS`): no answer, and the connection is cut and the
lead given up, instead of a worker blocked in `try_lead` (its background loop with it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import zlib
from typing import Any

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from careledger.store._database import Database

# The leader lock's first key: "CLld" (CareLedger's leader); its second is the schema's. `one_at_a_time`
# uses the next one.
LOCK_CLASS = 0x434C6C64
# How long the lock's connection may take to answer before this process cuts it and stops leading.
ANSWER_SECONDS = 5.0
# The lock session's own settings, on PostgreSQL's side: it gives up a statement the server cannot finish, and
# ends the session (and the lock) when the worker's host no longer acknowledges (keepalives after 5 s idle,
# every 2 s, 3 unanswered; 10 s of unacknowledged bytes).
_SESSION = {
    "statement_timeout": f"{int(ANSWER_SECONDS * 1000)}",
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}
_LOCK = text("SELECT pg_try_advisory_lock(:c, :k)")
_ALIVE = text("SELECT 1")
_SET = text("SELECT set_config(:name, :value, false)")


class Leadership:
    """Whether this process leads its node's background work (anchoring, recording, follow-up)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._shared = db.backend == "postgresql"
        self._connection: Connection | None = None  # its own, kept while the database answers
        self._leading = False
        self._lock = threading.Lock()
        self._key: int | None = None

    @property
    def leading(self) -> bool:
        """True while this process holds the lock (on SQLite: always)."""
        return not self._shared or self._leading

    def try_lead(self) -> bool:
        """Take the lead if no one holds it; when already leading, confirm that the lock's connection still lives
        (a PostgreSQL that restarted has dropped it, and with it the lead). Whether this process leads now."""
        if not self._shared:
            return True
        with self._lock:
            try:
                connection = self._connected()
                if self._leading:
                    _answered(connection, _ALIVE)
                else:
                    self._leading = bool(_answered(connection, _LOCK, {"c": LOCK_CLASS, "k": self._key}))
            except DBAPIError:  # the database is away: no one here leads until it is back
                self._drop()
            return self._leading

    def held_anywhere(self) -> bool:
        """Whether some process (this one or another) leads now: what readiness reports. Asked of
        `pg_locks` on a pooled connection; `DBAPIError` propagates when the database is away."""
        if not self._shared:
            return True
        with self._db.reading() as connection:
            found = connection.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :c AND objid = :k AND objsubid = 2"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
                ),
                {"c": LOCK_CLASS, "k": self._key_of(connection)},
            ).scalar()
        return bool(found)

    def release(self) -> None:
        """Stop leading and let the connection go (at shutdown, after the last anchoring), so another worker
        takes over at once."""
        if not self._shared:
            return
        with self._lock:
            if self._leading and self._connection is not None:
                # Let go before closing: a closed connection's session ends a moment later, on the server's time.
                with contextlib.suppress(DBAPIError):
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:c, :k)"), {"c": LOCK_CLASS, "k": self._key}
                    )
            self._drop()

    def _connected(self) -> Connection:
        """The lock's own connection, opened on first use: never handed back to the pool (with the lock on
        it), and named so that `pg_stat_activity` shows which process it is."""
        if self._connection is None:
            connection = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                connection.detach()
                self._key_of(connection)
                for name, value in {"application_name": _name(), **_SESSION}.items():
                    _answered(connection, _SET, {"name": name, "value": value})
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _key_of(self, connection: Connection) -> int:
        """The lock's second key, from the schema the node's tables live in (a non-negative int4)."""
        if self._key is None:
            schema = str(connection.execute(text("SELECT current_schema()")).scalar())
            self._key = zlib.crc32(schema.encode()) & 0x7FFFFFFF
        return self._key

    def _drop(self) -> None:
        """Close the connection: the session ends, and the lock with it."""
        self._leading = False
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None


def _answered(connection: Connection, statement: TextClause, params: dict[str, Any] | None = None) -> Any:
    """The first column of `statement`'s answer on the lock's connection, or `DBAPIError` if none came within
    `ANSWER_SECONDS`: then the connection's socket is shut down under it (a blackholed server, a proxy that stopped
    passing bytes on), since a statement on a connection that no longer carries bytes waits forever."""
    watchdog = threading.Timer(ANSWER_SECONDS, _cut, args=(_socket_of(connection),))
    watchdog.daemon = True
    watchdog.start()
    try:
        return connection.execute(statement, params).scalar()
    finally:
        watchdog.cancel()


def _socket_of(connection: Connection) -> int:
    """The file descriptor of the connection's socket (psycopg's)."""
    return int(connection.connection.dbapi_connection.pgconn.socket)  # type: ignore[union-attr]


def _cut(fd: int) -> None:
    """Shut the socket down (both ways): the statement waiting on it fails at once, and its connection with it."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def _name() -> str:
    """The lock connection's `application_name`: which process of the machine holds or waits for the lead."""
    return f"careledger worker {os.getpid()}"


def one_at_a_time(session: Session, name: str) -> None:
    """Serialise a transaction with every other process's that calls this with `name`: on PostgreSQL a
    transaction-level advisory lock (the second waits for the first's commit, then reads what it wrote); on
    SQLite writers already go one at a time."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:c, hashtext(current_schema() || ':' || :name))"),
            {"c": LOCK_CLASS + 1, "name": name},
        )
