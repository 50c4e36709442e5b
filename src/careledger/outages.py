"""Which failures are the database going away, so that every face answers them 503, not 500.

A worker whose PostgreSQL is restarting, unreachable or out of connections cannot serve, but it is
not broken: a client should wait and try again, and an operator should see one clear line, not a
traceback per request. SQLAlchemy tells a lost connection by `connection_invalidated`; a refused
one is psycopg's `OperationalError` with no SQLSTATE (no server answered), or one of PostgreSQL's
connection classes (08xxx, an administrator's or a crash's shutdown, too many connections).
Anything else, a bad statement or a constraint, is still a bug to see.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from careledger.errors import DatabaseUnavailable

RETRY_SECONDS = 5
# PostgreSQL's SQLSTATEs that mean no usable connection: shutdowns, cannot connect now, too many connections.
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# How far back through `raise … from` and `during handling` an outage is looked for.
_CHAIN_DEPTH = 8
_MESSAGE = "the node's database is not answering just now: try again in a few seconds"


def database_outage(exc: BaseException) -> DatabaseUnavailable | None:
    """`DatabaseUnavailable` if `exc` (or what it was raised from) is the database out of reach, else None."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            break
        if _unreachable(seen):
            return DatabaseUnavailable(_MESSAGE, retry_after=RETRY_SECONDS)
        seen = seen.__cause__ or seen.__context__
    return None


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):  # every pooled connection in use, none freed in time
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError) or not type(exc.orig).__module__.startswith("psycopg"):
        return False
    state = getattr(exc.orig, "sqlstate", None)
    return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES
