"""`careledger.health`: a part that fails is told to the log once as it goes and once as it is back."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from careledger.health import Health


def test_an_unreadable_backlog_is_logged_once_as_it_goes_and_once_as_it_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away = True

    def backlog() -> tuple[tuple[int, float], tuple[int, float]]:
        if away:  # what a pooled connection raises while PostgreSQL is down, its statement's values included
            raise OperationalError("SELECT … WHERE patient = %(p)s", {"p": "alice-secret"}, Exception("gone"))
        return (3, 1.5), (0, 0.0)

    health = Health({}, backlog, lambda: 0, timeout=2.0)
    caplog.set_level(logging.INFO, logger="careledger.health")
    for _ in range(5):  # five scrapes while the database is away
        assert health.backlog() is None
    away = False
    for _ in range(3):
        found = health.backlog()
        assert found is not None
        assert found.records_waiting == 3
    lines = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert lines[0][1].startswith("the backlog could not be read for /metrics: unreadable (OperationalError")
    assert lines[1][1] == "the backlog is read again"
    assert not any(record.exc_info for record in caplog.records)  # no traceback per scrape
    assert "alice-secret" not in caplog.text
