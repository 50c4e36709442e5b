"""Fixtures that build real things: chains, databases, homes. Nothing of ours is mocked."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from careledger.chain import Chain, Deployer, RecordAnchor, Signer, open_chain
from careledger.store import Database

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("default")

PG_URL = os.environ.get("CARELEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own ~/.careledger or CARELEDGER_* settings."""
    for name in list(os.environ):
        if name.startswith("CARELEDGER_") and name not in ("CARELEDGER_CACHE", "CARELEDGER_TEST_PG_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("user-home")))


@pytest.fixture
def account() -> LocalAccount:
    acct: LocalAccount = Account.create()
    return acct


@pytest.fixture
def memory_chain() -> Iterator[Chain]:
    with open_chain("memory") as chain:
        yield chain


@pytest.fixture
def anvil_chain(tmp_path: Path) -> Iterator[Chain]:
    with open_chain("anvil", chain_dir=tmp_path / "chain") as chain:
        yield chain


@pytest.fixture(params=["memory", pytest.param("anvil", marks=pytest.mark.anvil)])
def any_chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """The same test on the in-process chain and on a real anvil process."""
    with open_chain(request.param, chain_dir=tmp_path / "chain") as chain:
        yield chain


@pytest.fixture
def signer(any_chain: Chain, account: LocalAccount) -> Signer:
    return any_chain.signer(account)


@pytest.fixture
def anchor(any_chain: Chain, signer: Signer) -> RecordAnchor:
    deployed = Deployer(any_chain, None).deploy(signer, "RecordAnchor").deployment
    return RecordAnchor(any_chain, deployed.address, signer)


def _postgres_schema() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards; skipped if no server (not in CI)."""
    schema = f"careledger_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        engine.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        yield schema
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database: SQLite in a temp dir, or PostgreSQL in its own schema."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'test.db'}")
        db.migrate()
        yield db
        db.close()
        return
    schemas = _postgres_schema()
    schema = next(schemas)
    db = Database(PG_URL, schema=schema)
    db.migrate()
    try:
        yield db
    finally:
        db.close()
        next(schemas, None)
