"""Reminders the node's leader sends as a visit comes near: to its patient and its practitioner, a day and a quarter
of an hour before its start, each once however many workers try, with nothing of the visit but its id and start."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from careledger.api import NodeServer
from careledger.api._server import REMINDER_ROUNDS
from careledger.fhir import URI
from careledger.shared import Tickets
from careledger.store import Database
from careledger.telehealth import Events, LocalBus, Readers, Reminders, parse_instant
from tests.telehealth.clinic import Clinic, clinic_at, clinic_on

READERS = Readers(b"r" * 32)


def _named(clinic: Clinic) -> Clinic:
    """The clinic, its practitioner's record naming Dr Bob's wallet (so his streams are told too)."""
    staff = clinic.door(clinic.drbob)
    practitioner = staff.read(clinic.practitioner_id)
    did = f"did:pkh:eip155:{clinic.node.chain_id}:{clinic.drbob.address}"
    staff.write({**practitioner, "identifier": [{"system": URI, "value": did}]})
    return clinic


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with clinic_at(Path(tmp_path_factory.mktemp("reminders")) / "home") as clinic:
        yield _named(clinic)


def _reminders(clinic: Clinic, tickets: Tickets | None = None) -> tuple[Reminders, list[dict[str, Any]]]:
    """A worker's reminders over the clinic's database, and what they put on its bus."""
    bus, heard = LocalBus(), list[dict[str, Any]]()
    bus.subscribe(heard.append)
    node = clinic.node
    events = Events(bus, READERS)
    return Reminders(
        clinic.scheduling, node.access, events, tickets or node.shared.tickets, custodian=node.address
    ), heard


def _booked(clinic: Clinic, *, reason: str | None = None) -> dict[str, Any]:
    (slot,) = clinic.slots()
    return clinic.scheduling.book(clinic.door(clinic.alice), slot, clinic.alice_id, reason=reason)


def test_a_visit_is_reminded_a_day_then_a_quarter_hour_before_once_each(clinic: Clinic) -> None:
    booked = _booked(clinic, reason="a rash that will not go")
    (held,) = clinic.slots()
    clinic.scheduling.hold(clinic.door(clinic.bob), held, clinic.bob_id)  # pending: not a visit yet
    cancelled = _booked(clinic)
    clinic.scheduling.cancel(clinic.door(clinic.alice), cancelled["id"])
    start, began = parse_instant(booked["start"], "start"), clinic.now[0]
    reminders, heard = _reminders(clinic)
    try:
        clinic.now[0] = start - timedelta(hours=25)
        assert reminders.send_due() == 0
        clinic.now[0] = start - timedelta(hours=23)
        assert reminders.send_due() == 1
        said = {
            "kind": "notification",
            "event": "reminder",
            "data": {"appointment": booked["id"], "start": booked["start"]},
        }
        to = {READERS.token(clinic.alice.address), READERS.token(clinic.drbob.address)}
        assert sorted(heard, key=lambda n: n["to"]) == [{**said, "to": t} for t in sorted(to)]
        assert "rash" not in json.dumps(heard)  # the reason, and anyone's name, stay off the bus
        assert reminders.send_due() == 0  # once
        other, heard_there = _reminders(clinic, Tickets(clinic.node.db))  # another worker, or after a restart
        assert other.send_due() == 0
        clinic.now[0] = start - timedelta(minutes=10)
        assert other.send_due() == 1  # the quarter-hour one, from whichever leads now
        assert [n["data"] for n in heard_there] == [said["data"]] * 2
        assert reminders.send_due() == 0
        clinic.now[0] = start + timedelta(minutes=1)
        assert reminders.send_due() == 0  # begun: nothing more
    finally:
        clinic.now[0] = began


def test_a_visit_booked_a_few_minutes_ahead_gets_the_quarter_hour_reminder_alone(clinic: Clinic) -> None:
    booked = _booked(clinic)
    start, began = parse_instant(booked["start"], "start"), clinic.now[0]
    reminders, heard = _reminders(clinic)
    try:
        clinic.now[0] = start - timedelta(minutes=10)
        assert reminders.send_due() == 1
        clinic.now[0] = start - timedelta(minutes=5)
        assert reminders.send_due() == 0
        assert len(heard) == 2  # her and him, once
    finally:
        clinic.now[0] = began


def test_the_leader_of_a_served_node_sends_them_to_its_notification_streams(clinic: Clinic) -> None:
    """As wired in the node (its clock the wall's), sent by `serve`'s background rounds: a visit 10 minutes away
    is told on the node's bus to both of its people within the rounds' period."""
    node = clinic.node
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    (slot,) = clinic.scheduling.open_slots(
        clinic.door(clinic.drbob), clinic.schedule["id"], start, start + timedelta(minutes=20), 20
    )
    booked = clinic.scheduling.book(clinic.door(clinic.bob), slot["id"], clinic.bob_id)
    heard: list[dict[str, Any]] = []
    told = threading.Event()

    def hear(note: dict[str, Any]) -> None:
        if note.get("event") == "reminder":
            heard.append(note)
            told.set()

    node.bus.subscribe(hear)
    server = NodeServer(node, port=0)
    server.start()
    try:
        assert told.wait(REMINDER_ROUNDS * 1.5 + 5), "the leader sent no reminder"
        time.sleep(0.5)  # the other of the two
    finally:
        server.stop()
    readers = Readers(node.vault.secret(node.home.index_key_file))  # the node's blind tokens of its readers
    assert sorted(n["to"] for n in heard) == sorted(readers.token(w.address) for w in (clinic.bob, clinic.drbob))
    assert {n["data"]["appointment"] for n in heard} == {booked["id"]}
    assert node.reminders.send_due() == 0  # sent once: the node's own reminders know it


def test_two_workers_racing_on_postgresql_send_a_reminder_once(tmp_path: Path) -> None:
    with clinic_on("postgresql", tmp_path / "home") as clinic:
        booked = _booked(_named(clinic))
        clinic.now[0] = parse_instant(booked["start"], "start") - timedelta(hours=1)
        other = Database(clinic.node.db.url.render_as_string(hide_password=False), schema=clinic.node.db.schema)
        try:
            workers = [_reminders(clinic), _reminders(clinic, Tickets(other))]
            ready, sent = threading.Barrier(2), []

            def lead(reminders: Reminders) -> None:
                ready.wait()
                sent.append(reminders.send_due())

            threads = [threading.Thread(target=lead, args=(r,)) for r, _ in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            other.close()
        assert sorted(sent) == [0, 1]
        assert sum(len(heard) for _, heard in workers) == 2
