"""One version's row by id: the query every API read by id makes, thousands of times a second.

On PostgreSQL the built statement goes straight to psycopg on a pooled connection, in autocommit (one round
trip, as `Database.reading` gives; `Database.driver`): SQLAlchemy's `Connection`, execution context and result
objects cost twice the query's own CPU (0.23 against 0.10 ms a read, measured on the API's event loop, where it
blocks every other request). A failure is raised as SQLAlchemy would raise it, so an outage is still told as one
(503). SQLite keeps SQLAlchemy, whose result processors turn its stored text back into times and flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.rows import dict_row
from sqlalchemy import Select

from careledger.store import Database


class VersionLookup:
    """Rows of `statements` (built once, with named parameters) from `db`."""

    def __init__(self, db: Database, statements: tuple[Select[Any], ...]) -> None:
        self._db = db
        dialect = db.engine.dialect
        self._sql = {id(statement): str(statement.compile(dialect=dialect)) for statement in statements}
        self._direct = db.backend == "postgresql"

    def one(self, statement: Select[Any], params: dict[str, Any]) -> Mapping[Any, Any] | None:
        """The row `statement` finds with `params`, or None."""
        if not self._direct:
            with self._db.reading() as connection:
                return connection.execute(statement, params).mappings().one_or_none()
        with self._db.driver(autocommit=True) as driver, driver.cursor(row_factory=dict_row) as cursor:
            cursor.execute(self._sql[id(statement)], params, prepare=True)
            return cursor.fetchone()
