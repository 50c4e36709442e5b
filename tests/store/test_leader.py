"""Leadership over a PostgreSQL advisory lock: one leader per schema, a dead leader's lock freed at once."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from careledger.store import Database, Leadership
from careledger.store._leader import LOCK_CLASS
from tests.conftest import PG_URL, _postgres_schema

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    yield from _postgres_schema()


@pytest.fixture
def databases(schema: str) -> Iterator[list[Database]]:
    """Two processes' worth of engines on one schema (each its own pool, as each worker has)."""
    opened = [Database(PG_URL, schema=schema) for _ in range(2)]
    yield opened
    for db in opened:
        db.close()


def test_one_leads_and_the_other_takes_over_once_released(databases: list[Database]) -> None:
    first, second = (Leadership(db) for db in databases)
    assert not first.leading
    assert not first.held_anywhere()
    assert first.try_lead()
    assert first.leading
    assert not second.try_lead()
    assert not second.leading
    assert first.try_lead()  # leading again confirms it, and it is still its
    assert first.held_anywhere()
    assert second.held_anywhere()
    first.release()
    assert not first.leading
    assert not second.held_anywhere()
    assert second.try_lead()
    assert second.leading
    assert not first.try_lead()
    second.release()


def test_a_leader_whose_connection_dies_frees_the_lock_at_once(databases: list[Database], schema: str) -> None:
    first, second = (Leadership(db) for db in databases)
    assert first.try_lead()
    # What SIGKILL of a worker does to its lock: its session ends (here ended from outside).
    with databases[1].reading() as connection:
        ended = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :c AND objid = :k",
            ),
            {"c": LOCK_CLASS, "k": zlib.crc32(schema.encode()) & 0x7FFFFFFF},
        ).scalars()
        assert any(ended)
    assert second.try_lead()  # taken over at the next try, without waiting for any timeout
    assert not first.try_lead()
    assert not first.leading
    second.release()


def test_nodes_in_other_schemas_elect_their_own_leaders(databases: list[Database]) -> None:
    here = Leadership(databases[0])
    assert here.try_lead()
    for other_schema in _postgres_schema():
        other = Database(PG_URL, schema=other_schema)
        try:
            elsewhere = Leadership(other)
            assert not elsewhere.held_anywhere()
            assert elsewhere.try_lead()
            elsewhere.release()
        finally:
            other.close()
    here.release()


def test_on_sqlite_the_one_process_always_leads(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        leadership = Leadership(db)
        assert leadership.leading
        assert leadership.held_anywhere()
        assert leadership.try_lead()
        leadership.release()
        assert leadership.leading
    finally:
        db.close()
