"""The database's part of a backup: a SQLite snapshot ends while another connection keeps writing, and holds
one consistent state; a PostgreSQL dump holds the node's schema only, and loads into the configured one."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from careledger.backup._database import load, snapshot
from careledger.errors import Conflict
from careledger.store import Database
from tests.conftest import PG_URL, _postgres_schema


def _busy_database(path: Path) -> None:
    """A WAL database of ~12,000 small pages: more than one step of a copy in steps."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA page_size = 512")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY, body BLOB)")
    connection.executemany("INSERT INTO rows (body) VALUES (?)", ((bytes(400),) for _ in range(12000)))
    connection.commit()
    connection.close()


def _writer(path: Path, stop: threading.Event, written: list[int]) -> None:
    """Another connection, committing a row every millisecond or so, as a serving node does."""
    connection = sqlite3.connect(path, timeout=10)
    while not stop.wait(0.001):
        connection.execute("INSERT INTO rows (body) VALUES (?)", (b"x",))
        connection.commit()
        written.append(1)
    connection.close()


def test_a_sqlite_snapshot_ends_while_the_node_writes(tmp_path: Path) -> None:
    _busy_database(tmp_path / "node.db")
    database = Database(f"sqlite:///{tmp_path / 'node.db'}")
    stop, written = threading.Event(), list[int]()
    writer = threading.Thread(target=_writer, args=(tmp_path / "node.db", stop, written))
    writer.start()
    copier = threading.Thread(target=snapshot, args=(database, tmp_path / "copy.db"), daemon=True)
    try:
        time.sleep(0.1)
        copier.start()
        copier.join(20)
        finished = not copier.is_alive()
        during = len(written)
    finally:
        stop.set()
        writer.join(10)
        copier.join(30)
        database.close()
    assert during > 10  # the writer kept writing while the copy was taken
    assert finished, "the snapshot did not end within 20 s while another connection wrote"
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = copy.execute("SELECT count(*) FROM rows").fetchone()[0]
    copy.close()
    assert 12000 <= rows <= 12000 + len(written)


@contextlib.contextmanager
def _new_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"careledger_load_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _in_schema(url: str, schema: str) -> str:
    return f"{url}?options=-csearch_path%3D{schema}"


def _schemas(url: str) -> dict[str, list[str]]:
    """Each schema of the database that holds tables, with its tables."""
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN "
                     "('pg_catalog', 'information_schema') ORDER BY 1, 2")
            ).all()  # fmt: skip
    finally:
        database.close()
    found: dict[str, list[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, []).append(table)
    return found


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, list[str]]]:
    """A dump of a node migrated into a schema of its own, taken while a neighbour's schema shares the database:
    the dump, the node's schema and revision, its tables."""
    for node_schema in _postgres_schema():
        for neighbour in _postgres_schema():
            with create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)).begin() as connection:
                connection.execute(text(f'CREATE TABLE "{neighbour}".secrets (body text)'))
                connection.execute(text(f"INSERT INTO \"{neighbour}\".secrets VALUES ('another node''s PHI')"))
            database = Database(_in_schema(PG_URL, node_schema))
            database.migrate()
            out = tmp_path_factory.mktemp("dump") / "database"
            snapshot(database, out)
            tables = database.tables()
            revision = database.revision()
            database.close()
            assert revision is not None
            yield out, revision, tables


@pytest.mark.postgres
def test_a_postgres_dump_holds_the_nodes_schema_only(dumped: tuple[Path, str, list[str]]) -> None:
    listing = subprocess.run(["pg_restore", "--list", str(dumped[0])], capture_output=True, text=True, check=True)
    data = [line.split()[5] for line in listing.stdout.splitlines() if " TABLE DATA " in line]
    assert len(data) == len(dumped[2])
    assert len(set(data)) == 1
    assert data[0].startswith("careledger_test_")
    assert b"another node" not in dumped[0].read_bytes()


@pytest.mark.postgres
@pytest.mark.parametrize("into", ["a new schema", "public", "a schema of the same name"])
def test_a_postgres_dump_loads_into_the_configured_schema(dumped: tuple[Path, str, list[str]], into: str) -> None:
    listing = subprocess.run(["pg_restore", "--list", str(dumped[0])], capture_output=True, text=True, check=True)
    source = next(line.split()[5] for line in listing.stdout.splitlines() if " TABLE DATA " in line)
    with _new_database() as url:
        schema = {"a new schema": "restored_here", "public": "public", "a schema of the same name": source}[into]
        if into == "a schema of the same name":  # made empty beforehand by the operator
            with create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)).begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        target = Database(url if schema == "public" else _in_schema(url, schema))
        try:
            load(target, dumped[0])
            assert target.revision() == dumped[1]
            assert target.tables() == dumped[2]
        finally:
            target.close()
        assert _schemas(url) == {schema: dumped[2]}  # nothing left under the dump's own schema name


@pytest.mark.postgres
def test_a_postgres_load_that_cannot_rename_refuses_and_changes_nothing(dumped: tuple[Path, str, list[str]]) -> None:
    for other in _postgres_schema():  # in the database the node's schema lives in: its name is taken
        target = Database(_in_schema(PG_URL, other))
        try:
            with pytest.raises(Conflict, match="already has a schema careledger_test_"):
                load(target, dumped[0])
            assert target.tables() == []
        finally:
            target.close()
