"""The database's schema against this code's: what `db current` reports and what `db upgrade` (or
`serve --migrate`) does. Every other command leaves a schema as it found it and refuses one behind
(`Database.prepare`), so upgrading is a step an operator takes, once, not a side effect of a start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from careledger.config import Home, Settings
from careledger.errors import ConfigError
from careledger.store import Database, check_known, pending_migrations


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where one database's schema stands: its revision (None: never migrated), the code's head, and the
    migrations between them."""

    database: str | None
    head: str
    pending: tuple[str, ...]
    backend: str

    @property
    def current(self) -> bool:
        """Whether the database is at this code's head."""
        return self.database == self.head

    def to_json(self) -> dict[str, object]:
        """What `db current --json` prints."""
        return {
            "database": self.database,
            "head": self.head,
            "current": self.current,
            "pending": list(self.pending),
            "backend": self.backend,
        }


def _state(database: Database) -> SchemaState:
    try:  # a server that does not answer is not a database "never migrated"
        with database.reading():
            pass
    except DBAPIError as exc:
        raise ConfigError(f"cannot open the database {database.url.render_as_string()}: {exc.orig}") from None
    revision = database.revision()
    check_known(revision)  # a newer CareLedger's schema: nothing to report as pending, nor to upgrade
    return SchemaState(revision, database.head, tuple(pending_migrations(revision)), database.backend)


def schema_state(home: Home, settings: Settings) -> SchemaState:
    """The schema of the database `home` is configured with (read with one query, changing nothing)."""
    database = Database(settings.db_url(home))
    try:
        return _state(database)
    finally:
        database.close()


def upgrade_schema(home: Home, settings: Settings) -> tuple[SchemaState, SchemaState]:
    """Migrate the home's database to this code's head: its state before and after (the same when it was
    there already)."""
    database = Database(settings.db_url(home))
    try:
        before = _state(database)
        database.prepare(migrate=True)
        return before, _state(database)
    finally:
        database.close()
