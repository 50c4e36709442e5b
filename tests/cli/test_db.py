"""`careledger db current` / `db upgrade`, and every command (serve included) refusing a database behind the
code's schema unless told to migrate it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from careledger.api import free_port
from careledger.store._database import MIGRATIONS, head_revision, migrations
from tests.cli.conftest import Cli

_OLD = "0017"


def _put_back(home: Path, revision: str = _OLD) -> list[str]:
    """Downgrade the home's SQLite database to `revision` as an older CareLedger left it; the migrations
    it then lacks."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(f"sqlite:///{home / 'careledger.db'}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    engine.dispose()
    return [name for name in migrations() if name.partition("_")[0] > revision]


@pytest.fixture
def home(cli: Cli) -> Path:
    assert cli("init", "--light-kdf").code == 0
    return cli.home


def test_a_fresh_home_is_current_and_upgrade_does_nothing(cli: Cli, home: Path) -> None:
    found = cli("db", "current", "--json").json()
    assert found == {
        "database": head_revision(),
        "head": head_revision(),
        "current": True,
        "pending": [],
        "backend": "sqlite",
    }
    assert cli("db", "upgrade", "--json").json() == {"from": head_revision(), "to": head_revision(), "applied": []}
    assert "nothing to do" in cli("db", "upgrade").out


def test_commands_refuse_a_database_behind_until_db_upgrade(cli: Cli, home: Path) -> None:
    lacking = _put_back(home)
    found = cli("db", "current", "--json").json()
    assert (found["database"], found["current"], found["pending"]) == (_OLD, False, lacking)
    assert "run `careledger db upgrade`" in cli("db", "current").out

    refused = cli("record", "list")
    assert refused.code == 14
    assert f"the database is at {_OLD}, this CareLedger needs {head_revision()}" in refused.err
    assert "`careledger db upgrade` or `serve --migrate`" in refused.err
    assert cli("serve", "--port", str(free_port())).code == 14  # refused before it listens
    assert cli("db", "current", "--json").json()["database"] == _OLD  # refusing changed nothing

    upgraded = cli("db", "upgrade", "--json")
    assert upgraded.code == 0, upgraded.err
    assert upgraded.json() == {"from": _OLD, "to": head_revision(), "applied": lacking}
    assert cli("record", "list", "--json").json() == []


def test_upgrade_says_what_it_applied(cli: Cli, home: Path) -> None:
    lacking = _put_back(home, "0015")
    out = cli("db", "upgrade").out
    assert f"from 0015 to {head_revision()}" in out
    assert all(f"applied {name}" in out for name in lacking)


def test_a_database_a_newer_careledger_wrote_is_refused(cli: Cli, home: Path) -> None:
    engine = create_engine(f"sqlite:///{home / 'careledger.db'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    refused = cli("record", "list")
    assert refused.code == 3
    assert "the database is at 9999, which this CareLedger" in refused.err
    assert cli("db", "upgrade").code == 3
    for asked in (("db", "current"), ("db", "current", "--json")):  # not "behind by 0: run db upgrade", exit 0
        told = cli(*asked)
        assert told.code == 3, told.out
        assert "does not know: run the CareLedger version that upgraded it" in told.err


def test_db_current_on_a_server_that_does_not_answer_is_a_config_error(cli: Cli, home: Path) -> None:
    refused = cli("--db", "postgresql://postgres@127.0.0.1:9/none", "db", "current")
    assert refused.code == 3
    assert "cannot open the database" in refused.err


@pytest.mark.anvil
def test_serve_migrate_upgrades_then_serves(cli: Cli, home: Path) -> None:
    _put_back(home)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "careledger", "--home", str(home), "serve", "--port", str(port), "--migrate"],
        env={**os.environ, "CARELEDGER_PASSPHRASE": "test passphrase"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve --migrate never answered"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    assert f"migrated the database from {_OLD} to {head_revision()}" in output
    assert cli("db", "current", "--json").json()["current"] is True
