"""Leadership over a PostgreSQL advisory lock: one leader per schema, a dead leader's lock freed at once."""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from careledger.store import Database, Leadership
from careledger.store._leader import ANSWER_SECONDS, LOCK_CLASS, one_at_a_time
from tests.conftest import PG_URL, _postgres_schema
from tests.tcp_proxy import postgres_behind_proxy

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
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND granted"
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


def test_pg_stat_activity_names_the_process_that_leads(databases: list[Database], schema: str) -> None:
    leadership = Leadership(databases[0])
    assert leadership.try_lead()
    with databases[1].reading() as connection:
        names = connection.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :c AND l.objid = :k"
            ),
            {"c": LOCK_CLASS, "k": zlib.crc32(schema.encode()) & 0x7FFFFFFF},
        ).scalars()
        assert list(names) == [f"careledger worker {os.getpid()}"]
    leadership.release()


def test_one_at_a_time_makes_the_second_transaction_wait_for_the_first(databases: list[Database]) -> None:
    first, second = databases
    holding = threading.Event()

    def hold() -> None:
        with first.session() as session:
            one_at_a_time(session, "events:consent")
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    started = time.monotonic()
    with second.session() as session:
        one_at_a_time(session, "events:other")  # another name is not held up
    assert time.monotonic() - started < 0.3
    with second.session() as session:
        one_at_a_time(session, "events:consent")
    assert time.monotonic() - started >= 0.4
    holder.join()


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


def test_a_leader_whose_database_stops_answering_gives_up_the_lead_within_seconds() -> None:
    with postgres_behind_proxy() as (proxy, url):
        db = Database(url)
        try:
            leadership = Leadership(db)
            assert leadership.try_lead()
            lock = leadership._connected()
            # PostgreSQL probes the lock's session itself: a worker whose host vanished loses the lock in seconds.
            names = ("tcp_user_timeout", "statement_timeout", "tcp_keepalives_idle")
            settings = {name: lock.execute(text(f"SHOW {name}")).scalar() for name in names}
            assert settings == {"tcp_user_timeout": "10000", "statement_timeout": "5s", "tcp_keepalives_idle": "5"}

            proxy.hang()  # bytes no longer pass: the server neither answers nor is known to be gone
            started = time.monotonic()
            assert not leadership.try_lead()
            assert time.monotonic() - started < ANSWER_SECONDS + 2
            assert not leadership.leading

            proxy.cut()  # the proxy's end of the old session closes: PostgreSQL frees its lock
            proxy.restore()
            deadline = time.monotonic() + 10
            while not leadership.try_lead():
                assert time.monotonic() < deadline, "the lead was not taken again once the database answered"
                time.sleep(0.2)
            leadership.release()
        finally:
            db.close()


def test_every_connection_has_keepalives_and_bounded_connects(schema: str) -> None:
    db = Database(PG_URL + "?connect_timeout=3", schema=schema)
    try:
        with db.reading() as connection:
            info = connection.connection.dbapi_connection.info  # type: ignore[union-attr]
            params = info.get_parameters()
        assert params["keepalives_idle"] == "5"
        assert params["tcp_user_timeout"] == "10000"
        assert params["connect_timeout"] == "3"  # what the URL says wins
    finally:
        db.close()
