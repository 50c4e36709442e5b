"""Booking over FHIR: a slot is taken atomically (on SQLite and PostgreSQL), cancelled, moved, held and lapsed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, ValidationError
from careledger.records import Resource
from careledger.telehealth import Hold
from careledger.telehealth._holds import MAX_LIVE_HOLDS
from careledger.testdata import synthetic_patients
from tests.telehealth.clinic import Clinic, clinic_on


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def clinic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with clinic_on(request.param, tmp_path_factory.mktemp("clinic") / "home") as clinic:
        yield clinic


def _slot(clinic: Clinic, slot_id: str) -> Resource:
    return clinic.door(clinic.drbob).read(slot_id)


def test_two_patients_racing_for_one_slot_one_gets_it_the_other_a_conflict(clinic: Clinic) -> None:
    (slot,) = clinic.slots()
    start = threading.Barrier(2)
    won: list[Resource] = []
    lost: list[CareLedgerError] = []

    def book(wallet: str, patient_id: str) -> None:
        door = clinic.door(getattr(clinic, wallet))
        start.wait()
        try:
            won.append(clinic.scheduling.book(door, slot, patient_id, reason="checkup"))
        except Conflict as refused:
            lost.append(refused)

    threads = [
        threading.Thread(target=book, args=args) for args in (("alice", clinic.alice_id), ("bob", clinic.bob_id))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(won), len(lost)) == (1, 1), (won, lost)
    assert "taken" in str(lost[0]) or "another writer" in str(lost[0])
    (appointment,) = won
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [{"reference": f"Slot/{slot}"}]
    assert appointment["extension"][0]["valueInteger"] == 50  # the schedule's fee, agreed when booked
    assert _slot(clinic, slot)["status"] == "busy"
    found = clinic.scheduling.find(clinic.door(clinic.alice), *_window(clinic))
    assert slot not in [opening.slot["id"] for opening in found]


def _window(clinic: Clinic) -> tuple[datetime, datetime]:
    return clinic.now[0], clinic.now[0] + timedelta(days=30)


def test_find_lists_open_slots_soonest_first_and_books_what_it_found(clinic: Clinic) -> None:
    first, second = clinic.slots(2)
    door = clinic.door(clinic.alice)
    found = [o.slot["id"] for o in clinic.scheduling.find(door, *_window(clinic), practitioner=clinic.practitioner_id)]
    assert found.index(first) < found.index(second)
    assert [o.slot["id"] for o in clinic.scheduling.find(door, *_window(clinic), service_type="dental")] == []
    assert [o.slot["id"] for o in clinic.scheduling.find(door, *_window(clinic), mode="in-person")] == []
    clinic.scheduling.book(door, first, clinic.alice_id)
    after = [o.slot["id"] for o in clinic.scheduling.find(door, *_window(clinic), practitioner=clinic.practitioner_id)]
    assert first not in after
    assert second in after


def test_cancelling_frees_the_slot_for_the_next_patient(clinic: Clinic) -> None:
    (slot,) = clinic.slots()
    booked = clinic.scheduling.book(clinic.door(clinic.alice), slot, clinic.alice_id)
    with pytest.raises(Conflict):
        clinic.scheduling.book(clinic.door(clinic.bob), slot, clinic.bob_id)
    cancelled = clinic.scheduling.cancel(clinic.door(clinic.alice), booked["id"], "feeling better")
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelationReason"]["coding"][0]["code"] == "pat"
    assert _slot(clinic, slot)["status"] == "free"
    again = clinic.scheduling.book(clinic.door(clinic.bob), slot, clinic.bob_id)
    assert again["participant"][0]["actor"]["reference"] == f"Patient/{clinic.bob_id}"
    by_staff = clinic.scheduling.cancel(clinic.door(clinic.drbob), again["id"])
    assert by_staff["cancelationReason"]["coding"][0]["code"] == "prov"


def test_reschedule_moves_to_a_free_slot_or_nothing_moves(clinic: Clinic) -> None:
    first, second, third = clinic.slots(3)
    door = clinic.door(clinic.alice)
    booked = clinic.scheduling.book(door, first, clinic.alice_id)
    clinic.scheduling.book(clinic.door(clinic.bob), third, clinic.bob_id)
    with pytest.raises(Conflict):
        clinic.scheduling.reschedule(door, booked["id"], third)
    assert door.read(booked["id"])["slot"] == [{"reference": f"Slot/{first}"}]
    moved = clinic.scheduling.reschedule(door, booked["id"], second)
    assert moved["slot"] == [{"reference": f"Slot/{second}"}]
    assert moved["start"] == _slot(clinic, second)["start"]
    assert (_slot(clinic, first)["status"], _slot(clinic, second)["status"]) == ("free", "busy")
    clinic.scheduling.book(clinic.door(clinic.bob), first, clinic.bob_id)  # the old slot is bookable again


def test_a_failed_step_before_commit_releases_the_hold(clinic: Clinic) -> None:
    (slot,) = clinic.slots()
    seen: list[Hold] = []

    def payment_fails(hold: Hold) -> None:
        seen.append(hold)
        assert hold.appointment["status"] == "pending"
        assert _slot(clinic, slot)["status"] == "busy"
        raise AccessDenied("the escrow permit was refused")

    with pytest.raises(AccessDenied, match="permit"):
        clinic.scheduling.book(clinic.door(clinic.alice), slot, clinic.alice_id, before_commit=payment_fails)
    (hold,) = seen
    assert clinic.door(clinic.alice).read(hold.appointment_id)["status"] == "cancelled"
    assert _slot(clinic, slot)["status"] == "free"
    paid = clinic.scheduling.book(clinic.door(clinic.alice), slot, clinic.alice_id, before_commit=lambda _hold: None)
    assert paid["status"] == "booked"


def test_a_lapsed_hold_is_taken_over_and_cannot_be_confirmed(clinic: Clinic) -> None:
    (slot,) = clinic.slots()
    hold = clinic.scheduling.hold(clinic.door(clinic.alice), slot, clinic.alice_id)
    with pytest.raises(Conflict):
        clinic.scheduling.hold(clinic.door(clinic.bob), slot, clinic.bob_id)
    clinic.now[0] += timedelta(minutes=16)
    try:
        taken = clinic.scheduling.book(clinic.door(clinic.bob), slot, clinic.bob_id)
        with pytest.raises(Conflict):
            clinic.scheduling.confirm(clinic.door(clinic.alice), hold)
    finally:
        clinic.now[0] -= timedelta(minutes=16)
    assert taken["status"] == "booked"
    assert clinic.door(clinic.alice).read(hold.appointment_id)["status"] == "cancelled"


def test_the_practitioner_accepts_or_declines_and_a_decline_frees_the_slot(clinic: Clinic) -> None:
    first, second = clinic.slots(2)
    one = clinic.scheduling.book(clinic.door(clinic.alice), first, clinic.alice_id)
    two = clinic.scheduling.book(clinic.door(clinic.alice), second, clinic.alice_id)
    staff = clinic.door(clinic.drbob)
    accepted = clinic.scheduling.respond(staff, one["id"], accept=True)
    assert accepted["participantStatus"] == "accepted"
    practitioner = [p for p in staff.read(one["id"])["participant"] if "Practitioner" in p["actor"]["reference"]]
    assert practitioner[0]["status"] == "accepted"
    clinic.scheduling.respond(staff, two["id"], accept=False, comment="away that day")
    assert staff.read(two["id"])["status"] == "cancelled"
    assert _slot(clinic, second)["status"] == "free"
    # The answer is the patient's record (it is about her Appointment): a stranger cannot read it.
    with pytest.raises(AccessDenied):
        clinic.door(clinic.mallory).read(accepted["id"])
    assert clinic.door(clinic.alice).read(accepted["id"])["participantStatus"] == "accepted"


def test_upcoming_lists_a_patients_and_a_practitioners_visits_within_the_window(clinic: Clinic) -> None:
    (soon,) = clinic.slots(days=1)
    (later,) = clinic.slots(days=9)
    for slot in (soon, later):
        clinic.scheduling.book(clinic.door(clinic.bob), slot, clinic.bob_id)
    mine = clinic.scheduling.upcoming(clinic.door(clinic.bob), f"Patient/{clinic.bob_id}", timedelta(days=3))
    assert soon in {s["reference"].removeprefix("Slot/") for a in mine for s in a["slot"]}
    assert later not in {s["reference"].removeprefix("Slot/") for a in mine for s in a["slot"]}
    staff = clinic.door(clinic.drbob)
    theirs = clinic.scheduling.upcoming(staff, f"Practitioner/{clinic.practitioner_id}", timedelta(days=10))
    starts = [a["start"] for a in theirs]
    assert starts == sorted(starts)
    assert len(theirs) >= 2


def test_refusals_tell_nothing_of_the_slot(clinic: Clinic) -> None:
    (slot,) = clinic.slots()
    clinic.scheduling.book(clinic.door(clinic.alice), slot, clinic.alice_id)
    # Someone else's patient: refused as an unknown id, whether or not the slot is taken.
    (free,) = clinic.slots()
    for target in (slot, free):
        with pytest.raises(AccessDenied):
            clinic.scheduling.book(clinic.door(clinic.alice), target, clinic.bob_id)
        with pytest.raises(AccessDenied):
            clinic.scheduling.book(clinic.door(clinic.mallory), target, clinic.alice_id)
    with pytest.raises(NotFound):
        clinic.scheduling.book(clinic.door(clinic.alice), "no-such-slot", clinic.alice_id)
    with pytest.raises(NotFound):  # a record that is no Slot
        clinic.scheduling.book(clinic.door(clinic.alice), clinic.alice_id, clinic.alice_id)
    # Nor may a patient publish slots, or cancel another's visit.
    with pytest.raises(AccessDenied):
        clinic.scheduling.open_slots(
            clinic.door(clinic.alice), clinic.schedule["id"], clinic.now[0], clinic.now[0] + timedelta(hours=1), 30
        )
    booked = clinic.scheduling.book(clinic.door(clinic.alice), free, clinic.alice_id)
    with pytest.raises(AccessDenied):
        clinic.scheduling.cancel(clinic.door(clinic.bob), booked["id"])
    with pytest.raises(ValidationError):
        clinic.scheduling.find(clinic.door(clinic.alice), clinic.now[0], clinic.now[0] - timedelta(days=1))


def test_a_past_or_blocked_slot_cannot_be_booked(clinic: Clinic) -> None:
    (slot,) = clinic.slots()
    staff = clinic.door(clinic.drbob)
    staff.store([staff.prepare({**_slot(clinic, slot), "status": "busy-unavailable"})])
    with pytest.raises(Conflict, match="busy-unavailable"):
        clinic.scheduling.book(clinic.door(clinic.alice), slot, clinic.alice_id)
    (later,) = clinic.slots()
    clinic.now[0] += timedelta(days=30)
    try:
        with pytest.raises(Conflict, match="passed"):
            clinic.scheduling.book(clinic.door(clinic.alice), later, clinic.alice_id)
    finally:
        clinic.now[0] -= timedelta(days=30)


def test_a_patient_holds_a_few_slots_at_once_not_the_whole_schedule(clinic: Clinic) -> None:
    """One account looping over `$prepare-book` would keep a practitioner's whole schedule pending: a patient holds
    at most `MAX_LIVE_HOLDS` slots at once (nothing is written for the one refused); a hold let go or booked frees
    her a place, and another patient's holds are not hers."""
    staff, node = clinic.door(clinic.drbob), clinic.node
    wallet = node.wallets.create("erin", Role.PATIENT, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        wallet.address, wallet.role, wallet.encryption_key
    )
    erin = node._records.write(synthetic_patients(1, seed=35)[0].patient, patient_address=wallet.address).record_id
    *first, last = clinic.slots(MAX_LIVE_HOLDS + 1)
    holds = [clinic.scheduling.hold(staff, slot, erin) for slot in first]
    with pytest.raises(Conflict, match=f"holds {MAX_LIVE_HOLDS} slots already"):
        clinic.scheduling.hold(staff, last, erin)
    assert _slot(clinic, last)["status"] == "free"
    other = clinic.scheduling.hold(clinic.door(clinic.alice), last, clinic.alice_id)  # hers, not erin's
    clinic.scheduling.release(clinic.door(clinic.alice), other)
    clinic.scheduling.confirm(staff, holds[0])  # booked: no longer a hold that lapses
    assert clinic.scheduling.hold(staff, last, erin).appointment["status"] == "pending"
