"""Booking over the FHIR API: `$find`, `$book`, cancel and search, with fhirpy used the stock way; a race over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from careledger.access import AFFILIATION, Accessor
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET
from careledger.fhir import fhir_instant
from careledger.telehealth import Offer, VisitMode
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving


@dataclass
class Desk:
    """A served node whose practitioner drbob (care team) has a Schedule, and two patients, alice and the guardian."""

    api: Api
    schedule_id: str  # no fee: booked plainly, as the Argonaut operations and fhirpy do
    fee_schedule_id: str  # a fee of 40 CARE: booked only with her signatures (`$prepare-book`)
    practitioner_id: str
    alice_id: str
    guardian_id: str
    opened: int = 0

    def slots(self, count: int = 1, *, schedule: str | None = None) -> list[str]:
        """`count` new 30-minute slots (of the Schedule with no fee, or `schedule`), each call later than the last."""
        self.opened += 1
        node = self.api.world.node
        staff = node.access.for_caller(Accessor(self.api.world.drbob.address))
        start = (datetime.now(UTC) + timedelta(days=2, hours=self.opened)).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=30 * count)
        opened = node.scheduling.open_slots(staff, schedule or self.schedule_id, start, end, 30)
        return [slot["id"] for slot in opened]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with built_world(tmp_path_factory.mktemp("desk") / "home") as world, serving(world) as api:
        node = world.node
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 86_400)
        staff = node.access.for_caller(Accessor(world.drbob.address))
        practitioner = staff.write({"resourceType": "Practitioner", "name": [{"family": "Bob"}]}).record_id
        schedule = node.scheduling.publish(staff, Offer(practitioner, ServiceClass.OFFICE_VISIT, VisitMode.VIRTUAL))
        paid = node.scheduling.publish(staff, Offer(practitioner, ServiceClass.OFFICE_VISIT, VisitMode.VIRTUAL, fee=40))
        (alice,) = node._records.list(patient_address=world.alice.address, resource_type="Patient")
        guardian = node._records.write(
            {"resourceType": "Patient", "name": [{"family": "Guardian"}]}, patient_address=world.guardian.address
        )
        yield Desk(api, schedule["id"], paid["id"], practitioner, alice.record_id, guardian.record_id)


def _parameters(**values: str) -> dict[str, Any]:
    kinds = {"slot": "valueReference", "patient": "valueReference"}
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": name, kinds.get(name, "valueString"): {"reference": value} if name in kinds else value}
            for name, value in values.items()
        ],
    }


def test_fhirpy_finds_books_cancels_and_searches_appointments(desk: Desk) -> None:
    first, second = desk.slots(2)
    token = desk.api.client(desk.api.world.alice).headers["Authorization"]
    client = SyncFHIRClient(desk.api.url, authorization=token)
    now = datetime.now(UTC)
    window = {"start": fhir_instant(now), "end": fhir_instant(now + timedelta(days=30))}

    found = client.execute(
        "Appointment/$find",
        method="get",
        params={"practitioner": desk.practitioner_id, "patient": desk.alice_id, **window},
    )
    proposed = [e["resource"] for e in found["entry"] if e["search"]["mode"] == "match"]
    by_slot = {a["slot"][0]["reference"]: a for a in proposed}
    assert {f"Slot/{first}", f"Slot/{second}"} <= set(by_slot)
    offer = by_slot[f"Slot/{first}"]
    assert offer["status"] == "proposed"
    assert offer["participant"][0]["actor"]["reference"] == f"Patient/{desk.alice_id}"

    booked = client.execute(
        "Appointment/$book",
        data={"resourceType": "Parameters", "parameter": [{"name": "appt-resource", "resource": offer}]},
    )
    assert booked["status"] == "booked"
    assert booked["slot"] == [{"reference": f"Slot/{first}"}]
    assert client.reference("Slot", first).to_resource()["status"] == "busy"

    day = booked["start"][:10]
    mine = client.resources("Appointment").search(patient=desk.alice_id, date=day).fetch()
    assert booked["id"] in [a.id for a in mine]
    later = client.resources("Appointment").search(
        patient=desk.alice_id, date__gt=fhir_instant(now + timedelta(days=29))
    )
    assert booked["id"] not in [a.id for a in later.fetch()]

    appointment = client.reference("Appointment", booked["id"]).to_resource()
    appointment["status"] = "cancelled"
    appointment.save()  # a plain FHIR update: the slot is free again
    assert client.reference("Slot", first).to_resource()["status"] == "free"
    again = client.execute("Appointment/$find", method="get", params={"practitioner": desk.practitioner_id, **window})
    assert f"Slot/{first}" in {
        e["resource"]["slot"][0]["reference"] for e in again["entry"] if e["search"]["mode"] == "match"
    }


def test_book_cancel_and_reschedule_as_operations(desk: Desk) -> None:
    first, second = desk.slots(2)
    alice = desk.api.client(desk.api.world.alice)
    made = alice.post("/Appointment/$book", json=_parameters(slot=f"Slot/{first}", patient=f"Patient/{desk.alice_id}"))
    assert made.status_code == 201, made.text
    assert made.headers["Location"].endswith(f"/Appointment/{made.json()['id']}/_history/1")
    appointment = made.json()["id"]
    moved = alice.post(f"/Appointment/{appointment}/$reschedule", json=_parameters(slot=f"Slot/{second}"))
    assert moved.status_code == 200, moved.text
    assert moved.json()["slot"] == [{"reference": f"Slot/{second}"}]
    cancelled = alice.post(f"/Appointment/{appointment}/$cancel", json=_parameters(reason="better"))
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelationReason"]["text"] == "better"
    assert alice.get(f"/Slot/{second}").json()["status"] == "free"


def test_twenty_concurrent_books_of_one_slot_one_201_the_rest_409(desk: Desk) -> None:
    (slot,) = desk.slots()
    clients = [desk.api.client(desk.api.world.alice) for _ in range(4)]
    body = _parameters(slot=f"Slot/{slot}", patient=f"Patient/{desk.alice_id}")
    start = threading.Barrier(20)
    statuses: list[int] = []

    def book(n: int) -> None:
        start.wait()
        statuses.append(clients[n % len(clients)].post("/Appointment/$book", json=body).status_code)

    threads = [threading.Thread(target=book, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 19


def test_refusals_are_4xx_outcomes_that_tell_nothing_of_the_slot(desk: Desk) -> None:
    (taken,) = desk.slots()
    (free,) = desk.slots()
    alice = desk.api.client(desk.api.world.alice)
    assert (
        alice.post(
            "/Appointment/$book", json=_parameters(slot=f"Slot/{taken}", patient=f"Patient/{desk.alice_id}")
        ).status_code
        == 201
    )
    mallory = desk.api.client(desk.api.world.mallory)
    for slot in (taken, free):  # someone else's patient: the same answer whether the slot is taken or not
        for client, patient in ((alice, desk.guardian_id), (mallory, desk.alice_id)):
            refused = client.post(
                "/Appointment/$book", json=_parameters(slot=f"Slot/{slot}", patient=f"Patient/{patient}")
            )
            assert refused.status_code == 404, refused.text
            assert refused.json()["resourceType"] == "OperationOutcome"
            assert slot not in refused.text
    cases = [
        ("/Appointment/$book", _parameters(slot="Slot/nope", patient=f"Patient/{desk.alice_id}"), 404),
        ("/Appointment/$book", _parameters(slot=f"Patient/{free}", patient=f"Patient/{desk.alice_id}"), 400),
        ("/Appointment/$book", _parameters(patient=f"Patient/{desk.alice_id}"), 400),
        ("/Appointment/$book", {"resourceType": "Patient"}, 400),
        ("/Appointment/$find?start=tomorrow", None, 400),
        ("/Appointment/$find?start=2026-12-01T10:00:00", None, 400),  # no time zone
        ("/Appointment/$find?start=2026-12-02T10:00:00Z&end=2026-12-01T10:00:00Z", None, 400),
    ]
    for path, body, status in cases:
        answer = alice.post(path, json=body) if body is not None else alice.get(path)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    assert httpx.post(f"{desk.api.url}/Appointment/$book", json=_parameters(slot=f"Slot/{free}")).status_code == 401
    # A plain FHIR create naming a taken slot is refused too: the slot is held by one booking only.
    staff = desk.api.client(desk.api.world.drbob)
    copy = staff.get(f"/Slot/{taken}").json()
    double = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{taken}"}],
        "start": copy["start"],
        "end": copy["end"],
        "participant": [{"actor": {"reference": f"Patient/{desk.guardian_id}"}, "status": "accepted"}],
    }
    assert staff.post("/Appointment", json=double).status_code == 409
    nowhere = {**double, "slot": [{"reference": "Slot/nowhere"}]}
    assert staff.post("/Appointment", json=nowhere).status_code == 404


def test_fhirpy_sees_a_taken_slot_as_an_operation_outcome(desk: Desk) -> None:
    (slot,) = desk.slots()
    token = desk.api.client(desk.api.world.alice).headers["Authorization"]
    client = SyncFHIRClient(desk.api.url, authorization=token)
    body = _parameters(slot=f"Slot/{slot}", patient=f"Patient/{desk.alice_id}")
    client.execute("Appointment/$book", data=body)
    with pytest.raises(OperationOutcome, match="taken"):
        client.execute("Appointment/$book", data=body)


def test_a_slot_with_a_fee_she_would_pay_is_not_booked_without_her_signatures(desk: Desk) -> None:
    """Alice is in no plan: the plain `$book`, and a plain create or update taking the slot, are 400 saying how to
    book it; the slot stays free for `$prepare-book`."""
    (slot,) = desk.slots(schedule=desk.fee_schedule_id)
    alice = desk.api.client(desk.api.world.alice)
    refused = alice.post(
        "/Appointment/$book", json=_parameters(slot=f"Slot/{slot}", patient=f"Patient/{desk.alice_id}")
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert "$prepare-book" in refused.text
    copy = alice.get(f"/Slot/{slot}").json()
    assert copy["status"] == "free"
    plain = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot}"}],
        "start": copy["start"],
        "end": copy["end"],
        "participant": [{"actor": {"reference": f"Patient/{desk.alice_id}"}, "status": "accepted"}],
    }
    staff = desk.api.client(desk.api.world.drbob)
    assert staff.post("/Appointment", json=plain).status_code == 400  # the staff books it no more than she does
    (free,) = desk.slots()
    made = staff.post("/Appointment", json={**plain, "slot": [{"reference": f"Slot/{free}"}]})
    assert made.status_code == 201, made.text  # a slot of no fee: a plain create of the staff books it
    moved = {**made.json(), "slot": [{"reference": f"Slot/{slot}"}], "start": copy["start"], "end": copy["end"]}
    assert staff.put(f"/Appointment/{moved['id']}", json=moved).status_code == 400  # nor into a slot with a fee
    assert alice.get(f"/Slot/{slot}").json()["status"] == "free"


def test_a_patient_books_moves_and_cancels_through_the_operations_not_by_hand(desk: Desk) -> None:
    """Her plain create, and a plain update moving her slot or times, are 403 saying how (she would otherwise skip
    the holds and the payment, or move the start her refund goes by); a plain update of anything else is hers, a
    `status: cancelled` cancels as `$cancel` does, and so does a DELETE: the slot is free again."""
    first, second = desk.slots(2)
    alice = desk.api.client(desk.api.world.alice)
    copy = alice.get(f"/Slot/{first}").json()
    plain = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{first}"}],
        "start": copy["start"],
        "end": copy["end"],
        "participant": [{"actor": {"reference": f"Patient/{desk.alice_id}"}, "status": "accepted"}],
    }
    refused = alice.post("/Appointment", json=plain)
    assert refused.status_code == 403, refused.text
    assert "$book" in refused.text
    booked = alice.post(
        "/Appointment/$book", json=_parameters(slot=f"Slot/{first}", patient=f"Patient/{desk.alice_id}")
    )
    appointment = booked.json()
    later = alice.get(f"/Slot/{second}").json()
    moved = {**appointment, "slot": [{"reference": f"Slot/{second}"}], "start": later["start"], "end": later["end"]}
    assert alice.put(f"/Appointment/{appointment['id']}", json=moved).status_code == 403
    assert (
        alice.put(f"/Appointment/{appointment['id']}", json={**appointment, "start": later["start"]}).status_code == 403
    )
    noted = alice.put(f"/Appointment/{appointment['id']}", json={**appointment, "comment": "bring the results"})
    assert noted.status_code == 200, noted.text
    assert alice.get(f"/Slot/{first}").json()["status"] == "busy"
    bundled = {  # nor through a transaction, which would store it past the visits' holds and checks
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": moved, "request": {"method": "PUT", "url": f"Appointment/{appointment['id']}"}}],
    }
    assert alice.post("/", json=bundled).status_code == 400
    assert alice.delete(f"/Appointment/{appointment['id']}").status_code in (200, 204)
    assert alice.get(f"/Slot/{first}").json()["status"] == "free"


def test_the_capability_statement_lists_the_scheduling_operations(desk: Desk) -> None:
    statement = httpx.get(f"{desk.api.url}/metadata").json()
    (appointment,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Appointment"]
    names = [o["name"] for o in appointment["operation"]]
    assert names[:4] == ["find", "book", "cancel", "reschedule"]
    assert {"respond", "no-show"} <= set(names)


@pytest.mark.parametrize("count", ["-1", "0", "201", "99999999999999999999999", "1e3", "ten"])
def test_find_refuses_a_count_outside_1_to_200_in_the_query(desk: Desk, count: str) -> None:
    alice = desk.api.client(desk.api.world.alice)
    refused = alice.get("/Appointment/$find", params={"_count": count})
    assert refused.status_code == 400, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert "_count" in refused.text


@pytest.mark.parametrize(
    "parameter",
    [
        {"name": "start", "valueInteger": 5},  # not a date: as `start=5` in the query is
        {"name": "_count", "valueInteger": 10**30},  # past FHIR's integer
        {"name": "_count", "valueInteger": -1},
        {"name": "_count", "valueDecimal": 1e308},
        {"name": "_count", "valueString": "10"},  # an integer, as FHIR types it
        {"name": "practitioner", "valueBoolean": True},
        {"name": "start", "valueString": "2027-01-04T09:00:00Z", "valueInteger": 1},  # two values
    ],
)
def test_find_refuses_a_parameter_of_the_wrong_type_in_a_body(desk: Desk, parameter: dict[str, Any]) -> None:
    alice = desk.api.client(desk.api.world.alice)
    refused = alice.post("/Appointment/$find", json={"resourceType": "Parameters", "parameter": [parameter]})
    assert refused.status_code == 400, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_find_refuses_a_body_that_is_not_json_per_rfc_8259(desk: Desk, number: str) -> None:
    alice = desk.api.client(desk.api.world.alice)
    body = '{"resourceType": "Parameters", "parameter": [{"name": "_count", "valueDecimal": NUMBER}]}'
    body = body.replace("NUMBER", number)
    refused = alice.post("/Appointment/$find", content=body, headers={"Content-Type": "application/fhir+json"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_find_takes_typed_parameters_in_a_body(desk: Desk) -> None:
    (slot,) = desk.slots()
    alice = desk.api.client(desk.api.world.alice)
    now = datetime.now(UTC)
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "practitioner", "valueReference": {"reference": f"Practitioner/{desk.practitioner_id}"}},
            {"name": "start", "valueDateTime": fhir_instant(now)},
            {"name": "end", "valueInstant": fhir_instant(now + timedelta(days=30))},
            {"name": "_count", "valuePositiveInt": 200},
            {"name": "unknown-to-find", "valueBoolean": True},  # ignored, as in the query
        ],
    }
    found = alice.post("/Appointment/$find", json=body)
    assert found.status_code == 200, found.text
    assert slot in [e["resource"]["id"] for e in found.json()["entry"] if e["search"]["mode"] == "include"]
