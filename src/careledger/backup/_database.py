"""The database's part of a backup: a consistent snapshot taken while the node writes, and loading it into
the new home's empty database.

SQLite: the online backup API (`sqlite3.Connection.backup`) in one step: a copy in steps starts over whenever
another connection writes between two of them, so under a busy node it never ends; one step holds a read
transaction for the copy, which in WAL mode lets writers carry on, and is one consistent state.
PostgreSQL: `pg_dump --format=custom` (one REPEATABLE READ snapshot of the whole database)
and `pg_restore --single-transaction`, so a failed load leaves the target as empty as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL

from careledger.errors import ConfigError, Conflict
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
    _pg_tool("pg_dump", database.url, "--format=custom", "--no-owner", "--no-privileges", f"--file={out}")


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
    _pg_tool(
        "pg_restore",
        database.url,
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        str(snapshot_file),
        database_flag="--dbname",
    )


def _pg_tool(tool: str, url: URL, *args: str, database_flag: str = "--dbname") -> None:
    """Run one of PostgreSQL's client programs against `url` (its password passed in the environment, never
    on the command line where `ps` shows it)."""
    binary = shutil.which(tool)
    if binary is None:
        raise ConfigError(
            f"`{tool}` is not installed: install PostgreSQL's client programs (Debian: postgresql-client)"
        )
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = {**os.environ, **({"PGPASSWORD": str(url.password)} if url.password else {})}
    done = subprocess.run([binary, f"{database_flag}={libpq}", *args], env=env, capture_output=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"{tool} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")
