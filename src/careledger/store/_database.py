"""Open the node's database (SQLite by default, PostgreSQL by URL) and migrate it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from careledger.errors import ConfigError, SchemaBehind

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite database at `path`."""
    return f"sqlite:///{path}"


def _normalise(url: str) -> URL:
    """Accept `postgresql://` as users write it; drive it with psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


def migrations() -> list[str]:
    """Every migration, oldest first, as `<revision>_<what>` (its file's name). Migrations are named with
    revisions that sort in order (`0001`, `0002`, …); tests/store checks that Alembic agrees."""
    return sorted(path.stem for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def head_revision() -> str:
    """The newest migration's revision."""
    return migrations()[-1].partition("_")[0]


def pending_migrations(revision: str | None) -> list[str]:
    """The migrations a database at `revision` (None: never migrated) lacks, oldest first."""
    return [name for name in migrations() if revision is None or name.partition("_")[0] > revision]


def check_known(revision: str | None) -> None:
    """`ConfigError` for a schema revision this code does not know (a newer CareLedger upgraded the database):
    nothing here may read or change it, nor advise `db upgrade`."""
    if revision is not None and revision not in {name.partition("_")[0] for name in migrations()}:
        raise ConfigError(
            f"the database is at {revision}, which this CareLedger (schema {head_revision()}) does not know: "
            "run the CareLedger version that upgraded it"
        )


class Database:
    """An engine and session factory for the node's database."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = _normalise(url)
        self.schema = schema
        # Enough pooled connections for an API's thread pool, so none is opened per request.
        # `hide_parameters`: a failed statement's error (and so any log line of it) never quotes its values (a
        # ticket's JSON, a patient's id).
        kwargs: dict[str, Any] = {"pool_size": 16, "max_overflow": 16, "hide_parameters": True}
        if self.url.get_backend_name() == "postgresql":
            kwargs["connect_args"] = _connect_args(self.url, schema)
        if self.url.get_backend_name() == "sqlite" and self.url.database not in (None, "", ":memory:"):
            _create_private(Path(self.url.database))
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Reads in autocommit on PostgreSQL: a query is one round trip, not three (BEGIN, it, ROLLBACK), for the
        # same answer (under READ COMMITTED each statement sees its own snapshot anyway).
        self._reader = self.engine
        if self.backend == "postgresql":
            self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite has one writer at a time and makes the others sleep and retry (1, 2, 5, 10 ms…):
        # threads of this process queue on a lock instead, and wake the moment it is free.
        self._write_lock = threading.RLock() if self.backend == "sqlite" else None

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.url.get_backend_name()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is there).

        The revision is read with one query first: Alembic takes ~0.3 s to import, which every
        command would pay to learn that nothing is to be done.
        """
        if self.revision() == head_revision():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except DBAPIError as exc:  # unreachable server, bad credentials, not a database file
            raise ConfigError(f"cannot open the database {self.url.render_as_string()}: {exc.orig}") from exc

    def prepare(self, *, migrate: bool = False) -> None:
        """Make the schema this code's before the node uses it. A database never migrated (a fresh one) is
        migrated; one behind head only when `migrate` is given, else `SchemaBehind` says how to upgrade it, so
        a newer CareLedger never changes a schema under processes of the older one by merely starting; one at
        a revision this code does not know (a newer CareLedger's) is refused."""
        revision = self.revision()
        if revision is None or (migrate and revision < head_revision()):
            self.migrate()
            return
        head = head_revision()
        check_known(revision)
        if revision < head:
            raise SchemaBehind(
                f"the database is at {revision}, this CareLedger needs {head}: "
                "run `careledger db upgrade` or `serve --migrate`"
            )

    @property
    def head(self) -> str:
        """The revision this code's migrations end at."""
        return head_revision()

    def revision(self) -> str | None:
        """The schema's Alembic revision (None for a database never migrated, or one that cannot be read)."""
        try:
            with self.engine.connect() as connection:
                found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None
        return None if found is None else str(found)

    def tables(self) -> list[str]:
        """The names of the tables in the database."""
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._write_lock or nullcontext(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A plain connection in a transaction, for Core inserts on hot write paths."""
        with self._write_lock or nullcontext(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A plain connection for Core queries on hot read paths (no ORM session to set up, no transaction)."""
        with self._reader.connect() as connection:
            yield connection

    @contextmanager
    def driver(self, *, autocommit: bool) -> Iterator[psycopg.Connection[Any]]:
        """On PostgreSQL, a pooled connection's psycopg connection itself, for the few statements run thousands of
        times a second, where SQLAlchemy's `Connection`, execution context and result objects cost more CPU than
        the statement (and a pipeline sends several in one round trip). A failure is raised as SQLAlchemy raises it
        (an outage a `DBAPIError`, told as one; a duplicate key an `IntegrityError`), a broken connection leaves
        the pool, and the connection goes back as the pool's other users expect it: out of autocommit."""
        try:
            pooled = self.engine.raw_connection()  # a refused connection is psycopg's error here, not wrapped
        except psycopg.Error as exc:
            raise self._as_sqlalchemy(exc) from exc
        driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        try:
            driver.autocommit = autocommit
            try:
                yield driver
            finally:
                if autocommit and not driver.closed:
                    driver.autocommit = False  # idle: autocommit opens no transaction
        except psycopg.Error as exc:
            if driver.broken or driver.closed:
                pooled.invalidate(exc)
            raise self._as_sqlalchemy(exc) from exc
        finally:
            pooled.close()

    def _as_sqlalchemy(self, exc: psycopg.Error) -> StatementError:
        """`exc` as SQLAlchemy raises a driver's error (its subclass by kind), never quoting a statement's values."""
        return DBAPIError.instance(None, None, exc, psycopg.Error, hide_parameters=True, dialect=self.engine.dialect)

    def close(self) -> None:
        """Close every connection."""
        self.engine.dispose()


def dialect_insert(backend: str) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (both SQLite and PostgreSQL take the same clause)."""
    return postgresql.insert if backend == "postgresql" else sqlite.insert


@contextmanager
def secure_delete(connection: Connection | Session, backend: str) -> Iterator[None]:
    """On SQLite, what the statements within delete or overwrite is zeroed in the file, so a copy of it does not
    hold the old bytes (this connection only; it goes back to the pool with it off, one that failed keeps it on,
    which costs only time). PostgreSQL keeps old row versions until the table is vacuumed."""
    if backend != "sqlite":
        yield
        return
    connection.execute(text("PRAGMA secure_delete = ON"))
    yield
    connection.execute(text("PRAGMA secure_delete = OFF"))


def _connect_args(url: URL, schema: str | None) -> dict[str, Any]:
    """libpq's settings for every connection to PostgreSQL, those the URL names left as it says. A server that
    vanishes (its host gone, the network blackholed) is noticed within seconds, not at the kernel's two hours:
    keepalives after 5 s idle, and a connection whose sent bytes go unacknowledged for 10 s is closed; a server
    that does not accept is given up after 5 s."""
    args: dict[str, Any] = {key: value for key, value in _LIBPQ_TIMEOUTS.items() if key not in url.query}
    if schema:  # tests isolate each run in its own schema; so can a shared server
        args["options"] = f"-csearch_path={schema}"
    return args


_LIBPQ_TIMEOUTS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
    "connect_timeout": 5,
}


def _create_private(path: Path) -> None:
    """Create the database file owner-only; SQLite gives its WAL and shared-memory files the same mode."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; the busy timeout makes a second writer
    # wait instead of failing at once; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
