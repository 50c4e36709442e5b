"""Hostile input to the telehealth operations over a real server: far-off dates, numbers too long to parse, a
Schedule's fee of the wrong kind, an Appointment that names no slot or two. Each is a 4xx, never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from eth_account import Account

from careledger.access import AFFILIATION, Accessor
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET
from careledger.fhir import URI, fhir_instant, systems
from careledger.portal._bookings import bookings
from careledger.telehealth import MAX_FIND_DAYS, Offer, VisitMode
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving


@dataclass
class Desk:
    """A served node: Dr Bob (care team) offers free telehealth visits; alice books them."""

    api: Api
    practitioner_id: str
    schedule_id: str
    alice_id: str
    opened: int = 0

    def slots(self, count: int = 1, *, schedule: str | None = None) -> list[str]:
        """`count` new 30-minute slots two days on (of the free Schedule, or `schedule`), later at each call."""
        self.opened += 1
        node = self.api.world.node
        staff = node.access.for_caller(Accessor(self.api.world.drbob.address))
        start = (datetime.now(UTC) + timedelta(days=2, hours=self.opened)).replace(second=0, microsecond=0)
        opened = node.scheduling.open_slots(
            staff, schedule or self.schedule_id, start, start + timedelta(minutes=30 * count), 30
        )
        return [slot["id"] for slot in opened]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with built_world(tmp_path_factory.mktemp("hostile-desk") / "home") as world, serving(world) as api:
        node = world.node
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 86_400)
        staff = node.access.for_caller(Accessor(world.drbob.address))
        did = {"system": URI, "value": f"did:pkh:eip155:{node.chain_id}:{world.drbob.address}"}
        practitioner = staff.write({"resourceType": "Practitioner", "name": [{"family": "Bob"}], "identifier": [did]})
        offer = Offer(practitioner.record_id, ServiceClass.TELEHEALTH, VisitMode.VIRTUAL)
        schedule = node.scheduling.publish(staff, offer)
        (alice,) = node._records.list(patient_address=world.alice.address, resource_type="Patient")
        yield Desk(api, practitioner.record_id, schedule["id"], alice.record_id)


def _refused(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in (statuses or (400,)), response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def _parameters(*parts: tuple[str, str]) -> dict[str, Any]:
    references = {"slot", "patient", "appointment"}
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": name, "valueReference": {"reference": value}}
            if name in references
            else {"name": name, "valueString": value}
            for name, value in parts
        ],
    }


@pytest.mark.parametrize(
    "asked",
    [
        {"start": "9999-12-31T23:00:00-05:00"},  # past year 9999 once in UTC
        {"start": "9999-12-31T23:00:00Z"},  # no end: two weeks on would overflow
        {"start": "0001-01-01T00:00:00+14:00"},
        {"end": "9999-12-31T23:59:59Z"},
        {"start": "2026-02-30T10:00:00Z"},
        {"start": "2026-03-01T10:00:00"},  # no time zone
    ],
)
def test_far_and_malformed_find_dates_are_400(desk: Desk, asked: dict[str, str]) -> None:
    alice = desk.api.client(desk.api.world.alice)
    _refused(alice.get("/Appointment/$find", params=asked))
    _refused(alice.post("/Appointment/$find", json=_parameters(*asked.items())))


def test_find_looks_through_at_most_its_days(desk: Desk) -> None:
    alice = desk.api.client(desk.api.world.alice)
    now = datetime.now(UTC)
    too_far = {"start": fhir_instant(now), "end": fhir_instant(now + timedelta(days=MAX_FIND_DAYS, minutes=1))}
    refused = alice.get("/Appointment/$find", params=too_far)
    _refused(refused)
    assert f"{MAX_FIND_DAYS} days" in refused.text
    (slot,) = desk.slots()
    within = {"start": fhir_instant(now), "end": fhir_instant(now + timedelta(days=MAX_FIND_DAYS))}
    found = alice.get("/Appointment/$find", params={**within, "practitioner": desk.practitioner_id, "_count": "1"})
    assert found.status_code == 200, found.text
    assert [e["resource"]["id"] for e in found.json()["entry"] if e["search"]["mode"] == "include"] == [slot]


@pytest.mark.parametrize(
    "typed",
    [
        '{"message": {"expiry": ' + "9" * 5000 + "}}",  # Python refuses ints of more than 4300 digits
        "[" * 5000 + "]" * 5000,  # nested past the parser's limit
    ],
)
def test_typed_data_too_long_a_number_or_too_deep_is_400(desk: Desk, typed: str) -> None:
    alice = desk.api.client(desk.api.world.alice)
    body = _parameters(("appointment", "Appointment/x"), ("consent", typed), ("consent-signature", "0x" + "11" * 65))
    _refused(alice.post("/Appointment/$book", json=body))


@pytest.mark.parametrize("fee", [{"valueString": "40"}, {"valueDecimal": 40.5}, {"valueInteger": -5}, {}])
def test_a_schedule_fee_of_the_wrong_kind_offers_nothing_and_is_4xx(desk: Desk, fee: dict[str, Any]) -> None:
    world = desk.api.world
    drbob, alice = desk.api.client(world.drbob), desk.api.client(world.alice)
    schedule = {
        "resourceType": "Schedule",
        "active": True,
        "extension": [{"url": systems.VISIT_FEE_EXTENSION, **fee}],
        "serviceType": [{"coding": [{"system": systems.SERVICE_CLASS, "code": ServiceClass.TELEHEALTH.label}]}],
        "actor": [{"reference": f"Practitioner/{desk.practitioner_id}"}],
    }
    created = drbob.post("/Schedule", json=schedule)
    assert created.status_code == 201, created.text
    (bad,) = desk.slots(schedule=created.json()["id"])
    (good,) = desk.slots()
    now = datetime.now(UTC)
    window = {"start": fhir_instant(now), "end": fhir_instant(now + timedelta(days=30))}
    found = alice.get("/Appointment/$find", params={**window, "practitioner": desk.practitioner_id})
    assert found.status_code == 200, found.text
    offered = {e["resource"]["id"] for e in found.json()["entry"] if e["search"]["mode"] == "include"}
    assert good in offered
    assert bad not in offered  # a malformed fee offers nothing until it is mended
    asked = {"patient": f"Patient/{desk.alice_id}", "slot": f"Slot/{bad}"}
    _refused(alice.get("/Appointment/$quote", params=asked))
    body = _parameters(("patient", f"Patient/{desk.alice_id}"), ("slot", f"Slot/{bad}"), ("category", "labs"))
    _refused(alice.post("/Appointment/$prepare-book", json=body))
    _refused(alice.post("/Appointment/$book", json=_parameters(*asked.items())))


@pytest.mark.parametrize("slots", [0, 2])
def test_a_held_appointment_naming_no_slot_or_two_is_409(desk: Desk, slots: int) -> None:
    world = desk.api.world
    drbob, alice = desk.api.client(world.drbob), desk.api.client(world.alice)
    (offered,) = desk.slots()
    prepared = alice.post(
        "/Appointment/$prepare-book",
        json=_parameters(("patient", f"Patient/{desk.alice_id}"), ("slot", f"Slot/{offered}"), ("category", "labs")),
    )
    assert prepared.status_code == 201, prepared.text
    parts = {p["name"]: p for p in prepared.json()["parameter"]}
    consent = parts["consent"]["valueString"]
    held = parts["appointment"]["resource"]["id"]
    assert alice.post(f"/Appointment/{held}/$cancel").status_code == 200  # her signed consent is all that is wanted
    key = world.node.unlock(world.alice.name).account.key
    signature = "0x" + bytes(Account.sign_typed_data(key, full_message=json.loads(consent)).signature).hex()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    edited = {
        "resourceType": "Appointment",
        "status": "pending",
        "start": fhir_instant(start, precision="seconds"),
        "end": fhir_instant(start + timedelta(minutes=30), precision="seconds"),
        "slot": [{"reference": f"Slot/{s}"} for s in desk.slots(slots)] if slots else [],
        "participant": [
            {"actor": {"reference": f"Patient/{desk.alice_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{desk.practitioner_id}"}, "status": "accepted"},
        ],
    }
    if not slots:
        del edited["slot"]
    created = drbob.post("/Appointment", json=edited)
    assert created.status_code == 201, created.text
    body = _parameters(
        ("appointment", f"Appointment/{created.json()['id']}"),
        ("consent", consent),
        ("consent-signature", signature),
    )
    _refused(alice.post("/Appointment/$book", json=body), 409)


def test_a_visit_of_endless_length_is_listed_with_its_room_shut(desk: Desk) -> None:
    """One Appointment edited to last for ever (no `end`, a `minutesDuration` past any calendar) neither breaks her
    list of visits nor opens a room."""
    world = desk.api.world
    drbob = desk.api.client(world.drbob)
    now = datetime.now(UTC).replace(microsecond=0)
    endless = {
        "resourceType": "Appointment",
        "status": "booked",
        "start": fhir_instant(now + timedelta(minutes=5), precision="seconds"),
        "minutesDuration": 2_000_000_000,
        "participant": [
            {"actor": {"reference": f"Patient/{desk.alice_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{desk.practitioner_id}"}, "status": "accepted"},
        ],
    }
    created = drbob.post("/Appointment", json=endless)
    assert created.status_code == 201, created.text
    door = world.node.access.for_caller(Accessor(world.alice.address))
    listed = bookings(world.node, door, now - timedelta(hours=1), now + timedelta(days=1))
    (mine,) = [b for b in listed if b.appointment_id == created.json()["id"]]
    assert not mine.room_open
