"""The node database on SQLite and PostgreSQL: migrations, pragmas, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from careledger.errors import ConfigError
from careledger.outages import database_outage
from careledger.store import Base, Database, EventCursor
from careledger.store._database import MIGRATIONS, head_revision


def test_migrations_reach_head_and_are_idempotent(database: Database) -> None:
    assert {"alembic_version", "event_cursors", "record_versions", "record_tokens", "anchor_batches"} <= set(
        database.tables()
    )
    database.migrate()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with database.session() as session:
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    assert database.revision() == head_revision() == head  # the quick check agrees with Alembic


def test_a_database_behind_head_is_migrated_though_the_quick_check_is_used(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        assert database.revision() is None
        database.migrate()
        with database.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = '0012'"))
            session.execute(text("DROP TABLE device_readings"))
            session.execute(text("DROP TABLE devices"))
            session.execute(text("DROP TABLE study_budgets"))
            session.execute(text("ALTER TABLE oauth_clients DROP COLUMN launch_uri"))
            session.execute(text("ALTER TABLE oauth_clients DROP COLUMN resource_server"))
            session.execute(text("DROP TABLE refresh_tokens"))
            session.execute(text("DROP TABLE revoked_tokens"))
            session.execute(text("DROP TABLE tickets"))
            session.execute(text("DROP TABLE rate_buckets"))
            session.execute(text("DROP TABLE blobs"))
            session.execute(text("ALTER TABLE event_cursors DROP COLUMN events"))
            session.execute(text("DROP TABLE slot_holds"))
            session.execute(text("DROP TABLE message_receipts"))
            session.execute(text("DROP TABLE message_outbox"))
            session.execute(text("DROP TABLE cds_clients"))
            session.execute(text("DROP TABLE cds_feedback"))
            session.execute(text("DROP TABLE insight_models"))
            session.execute(text("DROP TABLE break_glass_reviews"))
            for table in ("erased_records", "legal_holds", "erasure_requests", "erasure_peers"):
                session.execute(text(f"DROP TABLE {table}"))
            session.execute(text("DELETE FROM node_state WHERE name = 'sealed_break_glass'"))
            session.execute(text("ALTER TABLE anchor_batches DROP COLUMN block"))
            for table in ("supply_event_epcs", "supply_events", "supply_captures", "supply_flags", "supply_dispenses"):
                session.execute(text(f"DROP TABLE {table}"))
            for table in ("trial_seeds", "trial_definitions", "trial_drafts", "trial_visits", "trial_safety_reports"):
                session.execute(text(f"DROP TABLE {table}"))
        database.migrate()
        assert database.revision() == head_revision()
        assert {"devices", "device_readings"} <= set(database.tables())
    finally:
        database.close()


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_session_commits_or_rolls_back(database: Database) -> None:
    with database.session() as session:
        session.add(EventCursor(stream="s", chain_id=1, last_block=5))

    def fail_mid_transaction() -> None:
        with database.session() as session:
            session.get_one(EventCursor, ("s", 1)).last_block = 99
            raise RuntimeError("fail mid-transaction")

    with pytest.raises(RuntimeError):
        fail_mid_transaction()
    with database.session() as session:
        assert session.get_one(EventCursor, ("s", 1)).last_block == 5


def test_large_chain_ids_fit(database: Database) -> None:
    memory_chain_id = 131277322940537  # eth-tester's, beyond 32 bits
    with database.session() as session:
        session.add(EventCursor(stream="s", chain_id=memory_chain_id, last_block=2**40))
    with database.session() as session:
        assert session.get_one(EventCursor, ("s", memory_chain_id)).last_block == 2**40


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    db.migrate()
    with db.session() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    db.close()


def test_postgres_urls_as_users_write_them_use_psycopg() -> None:
    db = Database("postgresql://postgres@127.0.0.1:5432/test")
    assert db.url.drivername == "postgresql+psycopg"
    assert db.backend == "postgresql"
    db.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://root@localhost/test", "unsupported database 'mysql'"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Database(url)


def test_unreachable_server_is_a_config_error() -> None:
    db = Database("postgresql://postgres@127.0.0.1:9/none")
    with pytest.raises(ConfigError, match="cannot open the database"):
        db.migrate()


def test_each_read_on_postgresql_is_its_own_transaction(database: Database) -> None:
    """Reads run in autocommit there: one round trip a query, not BEGIN, the query and ROLLBACK."""
    if database.backend != "postgresql":
        pytest.skip("SQLite's reads are local calls, with no round trips to save")
    with database.reading() as connection:
        first = connection.execute(text("SELECT now()")).scalar()
        connection.execute(text("SELECT pg_sleep(0.01)"))
        second = connection.execute(text("SELECT now()")).scalar()
    assert second != first  # now() is when the transaction began: a new one for each query


def test_an_unreachable_server_through_the_driver_is_an_outage_the_api_tells_as_503() -> None:
    """The hot paths that go straight to psycopg (a read by id, an audit group) fail as every other path does, so
    the API answers 503 with Retry-After, not 500, whether the server refuses the connection or drops it."""
    db = Database("postgresql://postgres@127.0.0.1:9/none?connect_timeout=2")
    for autocommit in (True, False):
        with pytest.raises(DBAPIError) as refused, db.driver(autocommit=autocommit):
            pass
        assert database_outage(refused.value) is not None
