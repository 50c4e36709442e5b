"""Visit rooms: who is admitted and when, the waiting room, and signalling between the visit's two seats only.

A node (memory chain, SQLite) with alice's chart, Dr Bob and Dr Dan on its care team and named by her
Appointment, Mallory on the care team too but not named by it; the rooms' clock is the test's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from careledger.access import AFFILIATION, Accessor
from careledger.chain import Role as WalletRole
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.errors import AccessDenied, ConfigError, NotFound, TooLarge, TooMany, ValidationError
from careledger.fhir import fhir_instant, systems
from careledger.identity import Wallet, did_pkh
from careledger.records import SearchQuery
from careledger.shared import Tickets
from careledger.store import Database
from careledger.telehealth import (
    BURST,
    GRACE_AFTER,
    MAX_MESSAGE_BYTES,
    OPENS_BEFORE,
    REPLACED,
    ROOM_CLOSED,
    TURN_CREDENTIAL_SECONDS,
    Admission,
    Ending,
    LocalBus,
    PostgresBus,
    RoomRole,
    Rooms,
    Scheduling,
    Seat,
    parse_signal,
)
from tests.access.conftest import World, built_world
from tests.conftest import PG_URL, _postgres_schema

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"}
CANDIDATE: dict[str, Any] = {
    "type": "candidate",
    "candidate": {
        "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    },
}


@dataclass
class Clinic:
    """The world, its visit's Appointment and the rooms, whose clock the test moves."""

    world: World
    drdan: Wallet
    appointment_id: str
    patient_id: str
    start: datetime
    now: list[datetime]
    rooms: Rooms

    def accessor(self, wallet: Wallet) -> Accessor:
        return Accessor(wallet.address, Purpose.TREAT)

    def admit(self, wallet: Wallet, appointment_id: str | None = None) -> Admission:
        return self.rooms.admission(self.accessor(wallet), appointment_id or self.appointment_id)

    def book(self, *practitioners: Wallet, status: str = "booked", by_record: bool = False) -> str:
        """An Appointment of alice's with these practitioners, written by Dr Bob through his door."""
        actors: list[dict[str, Any]] = []
        door = self.world.access.for_caller(self.accessor(self.world.drbob))
        for wallet in practitioners:
            identifier = {"system": systems.URI, "value": did_pkh(self.world.node.chain_id, wallet.address)}
            if by_record:
                stored = door.write({"resourceType": "Practitioner", "identifier": [identifier]})
                actors.append({"reference": f"Practitioner/{stored.record_id}"})
            else:
                actors.append({"type": "Practitioner", "identifier": identifier})
        appointment = {
            "resourceType": "Appointment",
            "status": status,
            "start": fhir_instant(self.start, precision="seconds"),
            "end": fhir_instant(self.start + timedelta(minutes=30), precision="seconds"),
            "participant": [
                {"actor": {"reference": f"Patient/{self.patient_id}"}, "status": "accepted"},
                *({"actor": actor, "status": "accepted"} for actor in actors),
            ],
        }
        return door.write(appointment).record_id


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with built_world(Path(tmp_path_factory.mktemp("rooms")) / "home") as world:
        node = world.node
        drdan = node.wallets.create("drdan", WalletRole.PRACTITIONER, "pw")
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.register_actor(drdan.address, drdan.role, drdan.encryption_key)
        for wallet in (world.drbob, drdan, world.mallory):
            registry.attest(wallet.address, AFFILIATION, int(time.time()) + 3600)
        herself = world.access.for_caller(Accessor(world.alice.address, Purpose.PATRQT))
        (patient,) = herself.search(SearchQuery(resource_type="Patient", patient_address=world.alice.address))
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        now = [start]
        rooms = Rooms(world.access, node.shared.tickets, LocalBus(), clock=lambda: now[0])
        clinic = Clinic(world, drdan, "", str(patient["id"]), start, now, rooms)
        clinic.appointment_id = clinic.book(world.drbob, drdan)
        yield clinic


@pytest.fixture
def at_start(clinic: Clinic) -> Iterator[Clinic]:
    clinic.now[0] = clinic.start
    yield clinic
    clinic.now[0] = clinic.start


def test_participants_inside_the_window_are_admitted(at_start: Clinic) -> None:
    world = at_start.world
    before = len(world.node.audit.entries())
    patient = at_start.admit(world.alice)
    doctor = at_start.admit(world.drbob)
    assert (patient.role, doctor.role) == (RoomRole.PATIENT, RoomRole.PRACTITIONER)
    assert doctor.practitioners == (world.drbob.address, at_start.drdan.address)
    assert (patient.opens, patient.closes) == (
        at_start.start - OPENS_BEFORE,
        at_start.start + timedelta(minutes=30) + GRACE_AFTER,
    )
    world.node.audit.flush()
    reads = [e.access for e in world.node.audit.entries()[before:]]
    assert {(a.agent, a.allowed) for a in reads} == {(world.alice.address, True), (world.drbob.address, True)}


def test_practitioner_named_by_her_record_is_admitted(at_start: Clinic) -> None:
    appointment_id = at_start.book(at_start.drdan, by_record=True)
    assert at_start.admit(at_start.drdan, appointment_id).role == RoomRole.PRACTITIONER
    with pytest.raises(NotFound):
        at_start.admit(at_start.world.drbob, appointment_id)  # not named by this one


def test_a_stranger_is_told_what_an_unknown_id_is_told(at_start: Clinic) -> None:
    world = at_start.world
    with pytest.raises(NotFound) as unknown:
        at_start.admit(world.drbob, "no-such-appointment")
    for stranger in (world.mallory, world.guardian, world.clinic):  # a colleague, a patient, an organisation
        with pytest.raises(NotFound) as refused:
            at_start.admit(stranger, at_start.appointment_id)
        assert str(refused.value).replace(at_start.appointment_id, "ID") == str(unknown.value).replace(
            "no-such-appointment", "ID"
        )
    world.node.audit.flush()
    guardian = [e.access for e in world.node.audit.entries() if e.access.agent == world.guardian.address]
    assert guardian[-1].patient == world.alice.address
    assert not guardian[-1].allowed


def test_outside_the_window_the_room_is_closed(at_start: Clinic) -> None:
    alice = at_start.world.alice
    at_start.now[0] = at_start.start - OPENS_BEFORE - timedelta(seconds=1)
    with pytest.raises(AccessDenied, match="open from"):
        at_start.admit(alice)
    at_start.now[0] = at_start.start - OPENS_BEFORE
    assert at_start.admit(alice).role == RoomRole.PATIENT
    at_start.now[0] = at_start.start + timedelta(minutes=30) + GRACE_AFTER
    with pytest.raises(AccessDenied, match="open from"):
        at_start.admit(alice)


def test_a_cancelled_visit_has_no_room(at_start: Clinic) -> None:
    cancelled = at_start.book(at_start.world.drbob, status="cancelled")
    with pytest.raises(AccessDenied, match="cancelled"):
        at_start.admit(at_start.world.alice, cancelled)


async def _next(seat: Seat) -> dict[str, Any] | Ending:
    return await asyncio.wait_for(seat.outbox.get(), timeout=5)


async def _state(seat: Seat, **expected: Any) -> dict[str, Any]:
    """The first state the seat is told (states are sent as the room changes) that shows `expected`."""
    while True:
        item = await _next(seat)
        assert isinstance(item, dict)
        assert item["type"] == "room", f"a relayed {item['type']} where a state was due"
        if all(item[key] == value for key, value in expected.items()):
            return item


async def _relayed(seat: Seat) -> dict[str, Any] | Ending:
    """The next thing the seat is sent that is not a state of the room."""
    while isinstance(item := await _next(seat), dict) and item["type"] == "room":
        pass
    return item


async def _nothing_relayed(seat: Seat) -> None:
    """Nothing but states was sent to the seat (within a moment)."""
    await asyncio.sleep(0.2)
    while not seat.outbox.empty():
        item = seat.outbox.get_nowait()
        assert isinstance(item, dict)
        assert item["type"] == "room"


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=30))


def test_the_patient_waits_until_admitted_and_only_the_two_signal(at_start: Clinic) -> None:
    rooms, world = at_start.rooms, at_start.world
    alice, drbob, drdan = at_start.admit(world.alice), at_start.admit(world.drbob), at_start.admit(at_start.drdan)

    async def visit() -> None:
        async with rooms.seat(alice) as patient:
            await _state(patient, patient="waiting", practitioner="away", call=None)
            await rooms.receive(patient, json.dumps(OFFER))  # nobody to send it to: dropped
            async with rooms.seat(drbob) as doctor, rooms.seat(drdan) as colleague:
                await _state(doctor, patient="waiting", call=None, you="practitioner")
                with pytest.raises(AccessDenied, match="only a practitioner"):
                    await rooms.receive(patient, json.dumps({"type": "admit"}))
                await rooms.receive(doctor, json.dumps({"type": "admit"}))
                theirs = await _state(patient, patient="in", practitioner="in", offerer=False)
                mine = await _state(doctor, patient="in", offerer=True)
                assert theirs["call"] == mine["call"] is not None
                await _state(colleague, patient="in", call=None)  # the second practitioner is not in the call

                await rooms.receive(colleague, json.dumps(OFFER))  # not in the call: goes nowhere
                await rooms.receive(doctor, json.dumps(OFFER))
                assert await _relayed(patient) == OFFER
                await rooms.receive(patient, json.dumps(ANSWER))
                await rooms.receive(patient, json.dumps(CANDIDATE))
                assert [await _relayed(doctor), await _relayed(doctor)] == [ANSWER, CANDIDATE]
                await _nothing_relayed(colleague)
                assert await rooms.receive(doctor, json.dumps({"type": "bye"})) is False
                assert await _relayed(patient) == {"type": "bye"}
            await _state(patient, practitioner="away", call=None)

    _run(visit)


def test_the_room_opened_again_elsewhere_ends_the_first_seat(at_start: Clinic) -> None:
    rooms = at_start.rooms
    alice = at_start.admit(at_start.world.alice)

    async def twice() -> None:
        async with rooms.seat(alice) as first:
            await _state(first)
            async with rooms.seat(alice) as second:
                assert await _relayed(first) == Ending(REPLACED, "the room was opened in another window")
                assert (await _state(second))["patient"] in ("waiting", "in")

    _run(twice)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", ValidationError),
        ("[1]", ValidationError),
        (json.dumps({"type": "video", "data": 1}), ValidationError),
        (json.dumps({**OFFER, "extra": 1}), ValidationError),
        (json.dumps({"type": "offer", "sdp": "hello"}), ValidationError),
        (json.dumps({"type": "candidate", "candidate": {"candidate": 7}}), ValidationError),
        (
            json.dumps({"type": "candidate", "candidate": {**CANDIDATE["candidate"], "sdpMLineIndex": 1000}}),
            ValidationError,
        ),
        (json.dumps({"type": "offer", "sdp": "v=0" + "x" * MAX_MESSAGE_BYTES}), TooLarge),
    ],
)
def test_malformed_and_oversized_messages_are_refused(raw: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_signal(raw)


def test_well_formed_messages_pass_as_sent() -> None:
    for message in (OFFER, ANSWER, CANDIDATE, {"type": "admit"}, {"type": "bye"}):
        assert parse_signal(json.dumps(message)).body == message


def test_a_flood_of_messages_is_refused(at_start: Clinic) -> None:
    rooms = at_start.rooms
    alice = at_start.admit(at_start.world.alice)

    async def flood() -> None:
        async with rooms.seat(alice) as patient:
            for _ in range(BURST):
                await rooms.receive(patient, json.dumps(CANDIDATE))
            with pytest.raises(TooMany):
                await rooms.receive(patient, json.dumps(CANDIDATE))

    _run(flood)


def _coturn_password(secret: str, username: str) -> str:
    """The password coturn expects, as its docs compute it: openssl's HMAC-SHA1, base64."""
    digest = subprocess.run(
        ["openssl", "dgst", "-binary", "-sha1", "-hmac", secret],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(digest).decode()


def test_turn_credentials_are_coturns_only_with_an_admission_and_end_with_the_room(at_start: Clinic) -> None:
    urls = ["stun:turn.example.org:3478", "turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    world, tickets = at_start.world, at_start.world.node.shared.tickets
    rooms = Rooms(world.access, tickets, LocalBus(), ice_urls=urls, turn_secret="s3", clock=lambda: at_start.now[0])
    alice = world.alice.address
    assert rooms.ice_servers(alice) == [{"urls": urls[:1]}]  # signed in, not admitted: STUN only, no relay
    admission = rooms.admission(at_start.accessor(world.alice), at_start.appointment_id)
    stun, turn = rooms.ice_servers(alice, admission)
    assert stun == {"urls": urls[:1]}
    assert turn["urls"] == urls[1:]
    expiry, user = turn["username"].split(":", 1)
    assert user == alice
    assert int(expiry) == int(admission.closes.timestamp())  # no longer than the room is open
    assert int(expiry) - at_start.now[0].timestamp() < TURN_CREDENTIAL_SECONDS
    assert turn["credential"] == _coturn_password("s3", turn["username"])
    unsecured = Rooms(world.access, tickets, LocalBus(), ice_urls=urls)
    with pytest.raises(ConfigError, match="turn_secret"):
        unsecured.ice_servers(alice, admission)
    assert Rooms(world.access, tickets, LocalBus()).ice_servers("x", admission) == []


def _scheduling(clinic: Clinic) -> Scheduling:
    """The node's scheduling as the node wires it: each Appointment it writes is told to the rooms."""
    world = clinic.world
    return Scheduling(
        world.node.db,
        world.access,
        custodian=world.node.address,
        clock=lambda: clinic.now[0],
        changed=clinic.rooms.changed,
    )


def test_a_cancelled_visit_ends_its_open_seats_and_her_admission(at_start: Clinic) -> None:
    rooms, world = at_start.rooms, at_start.world
    appointment_id = at_start.book(world.drbob)
    alice, drbob = at_start.admit(world.alice, appointment_id), at_start.admit(world.drbob, appointment_id)
    door = world.access.for_caller(at_start.accessor(world.drbob))

    async def cancelled() -> None:
        async with rooms.seat(alice) as patient, rooms.seat(drbob) as doctor:
            await rooms.receive(doctor, json.dumps({"type": "admit"}))
            await _state(patient, patient="in", practitioner="in")
            await asyncio.to_thread(_scheduling(at_start).cancel, door, appointment_id, "the doctor is ill")
            for seat in (patient, doctor):
                assert await _relayed(seat) == Ending(ROOM_CLOSED, "this visit is cancelled: its room is closed")

    _run(cancelled)
    assert world.node.shared.tickets.peek("room-admitted", appointment_id) is None
    with pytest.raises(AccessDenied, match="cancelled"):
        at_start.admit(world.alice, appointment_id)


def test_a_moved_visit_has_her_wait_to_be_admitted_again(at_start: Clinic) -> None:
    rooms, world = at_start.rooms, at_start.world
    appointment_id = at_start.book(world.drbob)
    alice, drbob = at_start.admit(world.alice, appointment_id), at_start.admit(world.drbob, appointment_id)
    door = world.access.for_caller(at_start.accessor(world.drbob))
    appointment = door.read(appointment_id)
    later = at_start.start + timedelta(minutes=10)
    moved = {
        **appointment,
        "start": fhir_instant(later, precision="seconds"),
        "end": fhir_instant(later + timedelta(minutes=30), precision="seconds"),
    }

    async def rescheduled() -> None:
        async with rooms.seat(alice) as patient, rooms.seat(drbob) as doctor:
            await rooms.receive(doctor, json.dumps({"type": "admit"}))
            await _state(patient, patient="in")
            await _state(doctor, patient="in")
            await asyncio.to_thread(_scheduling(at_start).written, door, moved)
            await _state(patient, patient="waiting", call=None)  # the admission was for the old window
            state = await _state(doctor, patient="waiting")
            assert state["closes"] == (later + timedelta(minutes=30) + GRACE_AFTER).isoformat()

    _run(rescheduled)


@pytest.mark.postgres
def test_two_workers_relay_through_postgresql(clinic: Clinic) -> None:
    """The patient's seat at one worker, the practitioner's at another: LISTEN/NOTIFY carries the room, and an
    offer too large for a NOTIFY travels as a ticket."""
    schemas = _postgres_schema()
    schema = next(schemas)
    databases = [Database(PG_URL, schema=schema) for _ in range(2)]
    databases[0].migrate()
    workers = []
    for db in databases:
        tickets = Tickets(db)
        workers.append(Rooms(clinic.world.access, tickets, PostgresBus(db, tickets), clock=lambda: clinic.start))
    alice, drbob = _admissions(clinic)
    big_offer = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 2000}

    async def across() -> None:
        async with workers[0].seat(alice) as patient, workers[1].seat(drbob) as doctor:
            await asyncio.sleep(0.5)  # both listening
            await workers[1].receive(doctor, json.dumps({"type": "admit"}))
            called = await _state(patient, patient="in", practitioner="in")
            await _state(doctor, call=called["call"])
            await workers[1].receive(doctor, json.dumps(big_offer))
            assert await _relayed(patient) == big_offer
            await workers[0].receive(patient, json.dumps(ANSWER))
            assert await _relayed(doctor) == ANSWER

    try:
        _run(across)
    finally:
        for worker, db in zip(workers, databases, strict=True):
            worker.close()
            db.close()
        next(schemas, None)


def _admissions(clinic: Clinic) -> tuple[Admission, Admission]:
    clinic.now[0] = clinic.start
    return clinic.admit(clinic.world.alice), clinic.admit(clinic.world.drbob)
