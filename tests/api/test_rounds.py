"""The background loop of `serve` (api/_rounds.py): PostgreSQL going away is told once when it goes and once when
it is back, not as a traceback every round."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from careledger.api import NodeServer
from careledger.api._rounds import RoundLog
from careledger.config import Settings
from careledger.testdata import scratch_node
from tests.tcp_proxy import postgres_behind_proxy

pytestmark = pytest.mark.postgres


def test_a_database_away_is_told_once_as_it_goes_and_once_as_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="careledger.serve")
    with (
        postgres_behind_proxy() as (proxy, url),
        scratch_node(tmp_path / "home", Settings(chain="memory", db=url, light_kdf=True)) as node,
    ):
        server = NodeServer(node, port=0)
        server.start()
        try:
            time.sleep(1.5)  # a round or so with the database there
            proxy.cut()
            time.sleep(4.5)  # four rounds or so without it
            proxy.restore()
            deadline = time.monotonic() + 15
            while not any("reachable again" in record.getMessage() for record in _told(caplog)):
                assert time.monotonic() < deadline, [record.getMessage() for record in _told(caplog)]
                time.sleep(0.2)
        finally:
            server.stop()
    told = [record.getMessage() for record in _told(caplog)]
    assert len(told) == 2, told
    assert told[0].startswith("database unavailable: OperationalError: ")
    assert "retrying every round" in told[0]
    assert told[1].startswith("database reachable again after ")
    assert not [record for record in _told(caplog) if record.exc_info], "no traceback for an outage"


def _told(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the background loop logged, but who leads (a line a worker of `serve --workers` writes)."""
    return [r for r in caplog.records if r.name == "careledger.serve" and "leads" not in r.getMessage()]


def test_another_error_is_told_once_with_its_cause_until_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="careledger.test-rounds")
    rounds = RoundLog(logging.getLogger("careledger.test-rounds"))
    for _ in range(5):
        rounds.failed(ValueError("the batch is malformed"))
    rounds.failed(KeyError("another"))
    rounds.succeeded()
    rounds.succeeded()
    records = caplog.records
    assert [r.levelname for r in records] == ["ERROR", "ERROR", "WARNING"]
    assert [type(r.exc_info[1]).__name__ for r in records[:2] if r.exc_info] == ["ValueError", "KeyError"]
    assert records[2].getMessage().startswith("background rounds succeed again after ")
