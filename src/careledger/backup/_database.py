"""The database's part of a backup: a consistent snapshot taken while the node writes, and loading it into
the new home's empty database.

SQLite: the online backup API (`sqlite3.Connection.backup`) in one step: a copy in steps starts over whenever
another connection writes between two of them, so under a busy node it never ends; one step holds a read
transaction for the copy, which in WAL mode lets writers carry on, and is one consistent state.
PostgreSQL: `pg_dump --format=custom --schema=<the node's schema>` (one REPEATABLE READ snapshot of the node's
schema only: other nodes or applications may share the database) and `pg_restore --single-transaction` into
the new home's configured schema, so a failed load leaves the target as empty as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from careledger.errors import ConfigError, Conflict, IntegrityError
from careledger.store import Database

SQLITE_MEMBER = "database/careledger.sqlite"
POSTGRES_MEMBER = "database/careledger.pgdump"


def member_for(backend: str) -> str:
    """Where the snapshot of a database of `backend` is kept inside a backup."""
    return SQLITE_MEMBER if backend == "sqlite" else POSTGRES_MEMBER


def snapshot(database: Database, out: Path) -> None:
    """A consistent copy of `database` written to `out` (taken while others write)."""
    if database.backend == "sqlite":
        source = sqlite3.connect(f"file:{database.url.database}?mode=ro", uri=True)
        target = sqlite3.connect(out)
        try:
            source.backup(target, pages=-1)
        finally:
            target.close()
            source.close()
        return
    schema = '"' + _schema(database).replace('"', '""') + '"'  # quoted: a name, not a pattern
    _pg_tool(
        "pg_dump",
        database.url,
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--schema={schema}",
        f"--file={out}",
    )


def _schema(database: Database) -> str:
    """The schema the node's tables are in: the first of its search_path (`options=-csearch_path=…`) that
    exists, else the first it names (a schema a restore is to create)."""
    with database.engine.connect() as connection:
        current = connection.execute(text("SELECT current_schema()")).scalar()
        path = str(connection.execute(text("SHOW search_path")).scalar())
    named = [part.strip().strip('"') for part in path.split(",") if part.strip() not in ("", '"$user"')]
    if current is None and not named:
        raise ConfigError(f"the search_path of {database.url.render_as_string()} names no schema")
    return str(current) if current is not None else named[0]


def load(database: Database, snapshot_file: Path) -> None:
    """Put a snapshot into `database`, which must hold no tables (a refused load changes nothing)."""
    if database.tables():
        raise Conflict(
            f"the database {database.url.render_as_string()} is not empty: restore into an empty database "
            "(or schema), or into a home whose SQLite file does not exist yet"
        )
    if database.backend == "sqlite":
        database.close()
        path = Path(str(database.url.database))
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(snapshot_file, path)
        path.chmod(0o600)
        return
    _load_schema(database, snapshot_file)


def _load_schema(database: Database, snapshot_file: Path) -> None:
    """pg_restore the dumped schema's objects into the configured schema. The dump names its schema in every
    statement, so they are restored into a schema of that name (the configured one, or one made for the
    load and then renamed to it); the dump's own CREATE SCHEMA is left out, as the schema may exist empty."""
    listing = _pg_tool("pg_restore", None, "--list", str(snapshot_file)).splitlines()
    schema_entry = re.compile(r"^\d+; \d+ \d+ (?:SCHEMA - |COMMENT - SCHEMA )(\S+) ")
    dumped = next((found[1] for line in listing if (found := schema_entry.match(line))), None)
    if dumped is None:
        raise IntegrityError("the backup's PostgreSQL dump names no schema")
    target, quote = _schema(database), database.engine.dialect.identifier_preparer.quote_identifier
    with database.engine.begin() as connection:
        existed = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": dumped}).scalar()
        if existed and dumped != target:
            raise Conflict(
                f"the database already has a schema {dumped} (the backup's, which the load goes through): restore "
                f"into a database without one, or into schema {dumped}"
            )
        if not existed:
            connection.execute(text(f"CREATE SCHEMA {quote(dumped)}"))
    kept = snapshot_file.with_name("restore.list")
    kept.write_text("".join(line + "\n" for line in listing if not schema_entry.match(line)))
    try:
        _pg_tool(
            "pg_restore", database.url, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
            f"--use-list={kept}", str(snapshot_file),
        )  # fmt: skip
        if dumped != target:
            with database.engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {quote(target)} RESTRICT"))  # empty: tables() said
                connection.execute(text(f"ALTER SCHEMA {quote(dumped)} RENAME TO {quote(target)}"))
    except BaseException as exc:
        if not existed:
            with database.engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {quote(dumped)} CASCADE"))
        if isinstance(exc, DBAPIError):
            raise Conflict(f"the schema {target} could not take the restored tables: {exc.orig}") from exc
        raise


def _pg_tool(tool: str, url: URL | None, *args: str) -> str:
    """Run one of PostgreSQL's client programs (against `url` if given, its password passed in the environment,
    never on the command line where `ps` shows it); what it printed."""
    binary = shutil.which(tool)
    if binary is None:
        raise ConfigError(
            f"`{tool}` is not installed: install PostgreSQL's client programs (Debian: postgresql-client)"
        )
    env, command = dict(os.environ), [binary]
    if url is not None:
        command.append("--dbname=" + url.set(drivername="postgresql", password=None).render_as_string(False))
        env.update({"PGPASSWORD": str(url.password)} if url.password else {})
    done = subprocess.run([*command, *args], env=env, capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"{tool} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")
    return done.stdout.decode(errors="replace")
