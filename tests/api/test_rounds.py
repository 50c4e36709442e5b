"""The background loop of `serve` (api/_rounds.py): PostgreSQL going away is told once when it goes and once when
it is back, not as a traceback every round; the broker's subscription is held only while the process leads."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from pathlib import Path

import pytest
from sqlalchemy import text

from careledger.api import NodeServer
from careledger.api._rounds import RoundLog
from careledger.config import Settings
from careledger.iot._mqtt import mqtt_client, parse_broker
from careledger.store import Database, Leadership
from careledger.store._leader import LOCK_CLASS
from careledger.testdata import scratch_node
from tests.conftest import PG_URL, _postgres_schema
from tests.iot.broker import SHARED
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


def test_the_readings_subscription_is_held_only_while_leading(tmp_path: Path) -> None:
    """A leader that lost the lead (its lock's session ended: a database blip) lets go of the broker, and takes it
    again, as a fresh subscriber, once it leads again: the broker lets one session per client id, so two
    subscribers under the node's id would cut each other off in turn and lose readings in between."""
    schemas = _postgres_schema()
    schema = next(schemas)
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    db = Database(url)
    settings = Settings(chain="memory", db=url, light_kdf=True, mqtt_broker=SHARED)
    try:
        with scratch_node(tmp_path / "home", settings) as node:
            server = NodeServer(node, port=0)
            server.start()
            try:
                rival = _lead_taken_from(server, db, schema)
                # Another subscriber under the node's id (the new leader's, in a real pair of workers) is left be.
                kicked = threading.Event()
                client = mqtt_client(f"careledger-node-{node.address.lower()}", persistent=False)
                client.on_disconnect = lambda *_args: kicked.set()
                client.connect(*parse_broker(SHARED))
                client.loop_start()
                try:
                    assert not kicked.wait(4), "the old leader's subscriber took the node's client id back"
                    rival.release()  # the server leads again at its next round, with a subscriber of its own
                    assert kicked.wait(5), "the server leads again but does not subscribe"
                finally:
                    client.disconnect()
                    client.loop_stop()
            finally:
                server.stop()
    finally:
        db.close()
        next(schemas, None)


def _lead_taken_from(server: NodeServer, db: Database, schema: str) -> Leadership:
    """End the server's lock session (as a blip does) and take the lead before its next round does; the rival."""
    rival, deadline = Leadership(db), time.monotonic() + 10
    while not rival.try_lead():
        assert time.monotonic() < deadline
        with db.reading() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :c AND objid = :k"
                ),
                {"c": LOCK_CLASS, "k": zlib.crc32(schema.encode()) & 0x7FFFFFFF},
            )
    while server.leadership.leading:  # the server notices at its next round
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return rival
