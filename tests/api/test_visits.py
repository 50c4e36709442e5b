"""A telehealth visit over HTTP, its patient's wallet an eth-account key outside the node: `$quote`, `$prepare-book`,
signing the typed data, `$book`; the practitioner's `$join` and `$finish` (the fee released), `$respond` and
`$no-show`; refusals."""

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
from careledger.fhir import URI
from careledger.telehealth import Offer, VisitMode
from careledger.testdata import CARE
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving

FEE = 30  # whole CARE


@dataclass
class Office:
    """A served node (memory chain): Dr Bob (care team, his Practitioner naming his wallet) offers telehealth visits
    for 30 CARE; alice, in no plan, holds 1,000 CARE in her own wallet."""

    api: Api
    schedule_id: str
    alice_id: str
    opened: int = 0

    def slot(self, *, soon: bool = False) -> str:
        """A new 30-minute slot two days on, each an hour after the last; `soon`: one starting in ten minutes, its
        room open already."""
        self.opened += 1
        node = self.api.world.node
        staff = node.access.for_caller(Accessor(self.api.world.drbob.address))
        later = timedelta(minutes=10) if soon else timedelta(days=2, hours=self.opened)
        start = (datetime.now(UTC) + later).replace(second=0, microsecond=0)
        (slot,) = node.scheduling.open_slots(staff, self.schedule_id, start, start + timedelta(minutes=30), 30)
        return str(slot["id"])

    def balance(self, address: str) -> int:
        return self.api.world.node.contracts.token().balance_of(address)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    with built_world(tmp_path_factory.mktemp("office") / "home") as world, serving(world) as api:
        node = world.node
        node.contracts.identity_registry(as_wallet=NODE_WALLET).attest(
            world.drbob.address, AFFILIATION, int(time.time()) + 30 * 86_400
        )
        staff = node.access.for_caller(Accessor(world.drbob.address))
        did = {"system": URI, "value": f"did:pkh:eip155:{node.chain_id}:{world.drbob.address}"}
        practitioner = staff.write({"resourceType": "Practitioner", "name": [{"family": "Bob"}], "identifier": [did]})
        offer = Offer(practitioner.record_id, ServiceClass.TELEHEALTH, VisitMode.VIRTUAL, fee=FEE)
        schedule = node.scheduling.publish(staff, offer)
        node.contracts.token(as_wallet=NODE_WALLET).mint(world.alice.address, 1_000 * CARE)
        (alice,) = node._records.list(patient_address=world.alice.address, resource_type="Patient")
        yield Office(api, schedule["id"], alice.record_id)


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


def _named(parameters: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p for p in parameters["parameter"]}


def _signed_book(office: Office, offer: dict[str, Any], *, permit_key: bytes | None = None) -> dict[str, Any]:
    """The `$book` body her own wallet (eth-account) makes of what `$prepare-book` answered."""
    key = office.api.world.node.unlock(office.api.world.alice.name).account.key
    parts = _named(offer)

    def sign(name: str, with_key: bytes = key) -> str:
        typed = json.loads(parts[name]["valueString"])
        return "0x" + bytes(Account.sign_typed_data(with_key, full_message=typed).signature).hex()

    return _parameters(
        ("appointment", f"Appointment/{parts['appointment']['resource']['id']}"),
        ("consent", parts["consent"]["valueString"]),
        ("consent-signature", sign("consent")),
        ("terms", parts["terms"]["valueString"]),
        ("terms-signature", sign("terms")),
        ("permit-signature", sign("permit", permit_key or key)),
    )


def _prepare(office: Office, alice: httpx.Client, slot: str) -> dict[str, Any]:
    body = _parameters(("patient", f"Patient/{office.alice_id}"), ("slot", f"Slot/{slot}"), ("category", "labs"))
    response = alice.post("/Appointment/$prepare-book", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _tampered_permit(office: Office, offer: dict[str, Any]) -> dict[str, Any]:
    """Her `$book` body with the permit she was given changed (a tenth of the fee) before she signed it."""
    key = office.api.world.node.unlock(office.api.world.alice.name).account.key
    body = _signed_book(office, offer)
    permit = json.loads(_named(offer)["permit"]["valueString"])
    permit["message"]["value"] = str(int(permit["message"]["value"]) // 10)
    signed = "0x" + bytes(Account.sign_typed_data(key, full_message=permit).signature).hex()
    return {**body, "parameter": [*body["parameter"][:-1], {"name": "permit-signature", "valueString": signed}]}


@pytest.mark.parametrize("wrong", ["another key", "tampered"])
def test_a_forged_or_tampered_permit_is_403_nothing_paid_and_her_hold_kept(office: Office, wrong: str) -> None:
    world = office.api.world
    alice = office.api.client(world.alice)
    offer = _prepare(office, alice, office.slot())
    before = office.balance(world.alice.address)
    if wrong == "another key":
        forged = _signed_book(office, offer, permit_key=Account.create().key)
    else:
        forged = _tampered_permit(office, offer)
    refused = alice.post("/Appointment/$book", json=forged)
    assert refused.status_code == 403, refused.text  # she is signed in: not 401, which drops her token
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert "permit" in refused.text
    assert office.balance(world.alice.address) == before
    held = _named(offer)["appointment"]["resource"]["id"]
    assert alice.get(f"/Appointment/{held}").json()["status"] == "pending"  # checked before anything was undone
    booked = alice.post("/Appointment/$book", json=_signed_book(office, offer))  # signed right, the same hold
    assert booked.status_code == 201, booked.text
    assert office.balance(world.alice.address) == before - FEE * CARE


MALFORMED = [
    "0xzzzz",  # not hex
    "0x1234",  # two bytes
    "0x" + "00" * 65,  # r and s zero
    "0x" + "ff" * 64 + "1b",  # r and s past the curve's order
    "0x" + "11" * 64 + "05",  # v no recovery id
]


def test_a_malformed_signature_in_a_book_body_is_400_and_her_hold_kept(office: Office) -> None:
    alice = office.api.client(office.api.world.alice)
    offer = _prepare(office, alice, office.slot())
    for signature in MALFORMED:
        for at in (2, 4, 5):  # the consent's, the terms', the permit's
            body = _signed_book(office, offer)
            body["parameter"][at]["valueString"] = signature
            refused = alice.post("/Appointment/$book", json=body)
            assert refused.status_code == 400, refused.text  # bad input, not a failed sign-in (401)
            assert refused.json()["issue"][0]["code"] == "invalid"
            assert body["parameter"][at]["name"] in refused.text
    assert alice.post("/Appointment/$book", json=_signed_book(office, offer)).status_code == 201  # the same hold


def test_terms_signed_by_another_key_are_403(office: Office) -> None:
    alice = office.api.client(office.api.world.alice)
    offer = _prepare(office, alice, office.slot())
    body = _signed_book(office, offer)
    terms = json.loads(_named(offer)["terms"]["valueString"])
    other = "0x" + bytes(Account.sign_typed_data(Account.create().key, full_message=terms).signature).hex()
    body["parameter"][4]["valueString"] = other
    refused = alice.post("/Appointment/$book", json=body)
    assert refused.status_code == 403, refused.text
    assert alice.post("/Appointment/$book", json=_signed_book(office, offer)).status_code == 201


def test_malformed_and_strangers_requests_are_4xx(office: Office) -> None:
    world = office.api.world
    alice, mallory = office.api.client(world.alice), office.api.client(world.mallory)
    slot = office.slot()
    asked = {"patient": f"Patient/{office.alice_id}", "slot": f"Slot/{slot}"}
    assert mallory.get("/Appointment/$quote", params=asked).status_code == 404  # not hers to see
    assert alice.get("/Appointment/$quote", params={"slot": f"Slot/{slot}"}).status_code == 400
    offer = _prepare(office, alice, slot)
    body = _signed_book(office, offer)
    body["parameter"][1]["valueString"] = "{not json"
    assert alice.post("/Appointment/$book", json=body).status_code == 400
    wrong = _parameters(("patient", f"Patient/{office.alice_id}"), ("slot", f"Slot/{slot}"), ("grantee", "everyone"))
    assert alice.post("/Appointment/$prepare-book", json=wrong).status_code == 400


@pytest.mark.parametrize(
    "parameter",
    [
        {"name": "reason", "valueInteger": 10**50},
        {"name": "category", "valueBoolean": True},
        {"name": "slot", "valueInteger": 1},
        {"name": "reason", "valueString": "twice"},  # reason given twice
    ],
)
def test_prepare_book_refuses_a_parameter_of_the_wrong_type_and_holds_nothing(
    office: Office, parameter: dict[str, Any]
) -> None:
    alice = office.api.client(office.api.world.alice)
    slot = office.slot()
    body = _parameters(
        ("patient", f"Patient/{office.alice_id}"), ("slot", f"Slot/{slot}"), ("category", "labs"), ("reason", "rash")
    )
    if parameter["name"] != "reason" or "valueInteger" in parameter:
        body["parameter"] = [p for p in body["parameter"] if p["name"] != parameter["name"]]
    body["parameter"].append(parameter)
    refused = alice.post("/Appointment/$prepare-book", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert alice.get(f"/Slot/{slot}").json()["status"] == "free"


def test_the_provider_cancelling_refunds_her(office: Office) -> None:
    world = office.api.world
    alice, drbob = office.api.client(world.alice), office.api.client(world.drbob)
    offer = _prepare(office, alice, office.slot())
    appointment = alice.post("/Appointment/$book", json=_signed_book(office, offer)).json()
    paid = office.balance(world.alice.address)
    cancelled = drbob.post(f"/Appointment/{appointment['id']}/$cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert office.balance(world.alice.address) == paid + FEE * CARE


def test_the_practitioner_declining_over_http_refunds_her(office: Office) -> None:
    world = office.api.world
    alice, drbob = office.api.client(world.alice), office.api.client(world.drbob)
    offer = _prepare(office, alice, office.slot())
    appointment = alice.post("/Appointment/$book", json=_signed_book(office, offer)).json()["id"]
    declined = _parameters(("answer", "declined"), ("comment", "away that week"))
    assert alice.post(f"/Appointment/{appointment}/$respond", json=declined).status_code == 403  # hers to cancel
    maybe = drbob.post(f"/Appointment/{appointment}/$respond", json=_parameters(("answer", "maybe")))
    assert (maybe.status_code, maybe.json()["resourceType"]) == (400, "OperationOutcome")
    assert drbob.post("/Appointment/no-such-visit/$respond", json=declined).status_code == 404
    paid = office.balance(world.alice.address)
    answered = drbob.post(f"/Appointment/{appointment}/$respond", json=declined)
    assert answered.status_code == 200, answered.text
    parts = _named(answered.json())
    assert parts["response"]["resource"]["participantStatus"] == "declined"
    payment = {p["name"]: p["valueString"] for p in parts["payment"]["part"]}
    assert (payment["state"], payment["to-patient"]) == ("refunded", str(FEE * CARE))
    assert office.balance(world.alice.address) == paid + FEE * CARE
    assert alice.get(f"/Appointment/{appointment}").json()["status"] == "cancelled"


def test_a_no_show_is_the_practitioners_to_record_after_the_slot(office: Office) -> None:
    world = office.api.world
    alice, drbob = office.api.client(world.alice), office.api.client(world.drbob)
    offer = _prepare(office, alice, office.slot())
    appointment = alice.post("/Appointment/$book", json=_signed_book(office, offer)).json()["id"]
    assert alice.post(f"/Appointment/{appointment}/$no-show").status_code == 403
    early = drbob.post(f"/Appointment/{appointment}/$no-show")
    assert early.status_code == 409, early.text
    assert "has not ended" in early.text
    assert drbob.post("/Appointment/no-such-visit/$no-show").status_code == 404
    assert alice.get(f"/Appointment/{appointment}").json()["status"] == "booked"


# Last: the chain's clock moves to the slot, past the deadlines of what is signed before it.


def test_the_practitioner_joins_only_while_the_visits_room_is_open(office: Office) -> None:
    world = office.api.world
    alice, drbob = office.api.client(world.alice), office.api.client(world.drbob)
    appointment = alice.post("/Appointment/$book", json=_signed_book(office, _prepare(office, alice, office.slot())))
    assert appointment.status_code == 201, appointment.text
    early = drbob.post(f"/Appointment/{appointment.json()['id']}/$join")  # two days before: the room is shut
    assert early.status_code == 409, early.text
    assert "room is open" in early.text
    visit = f"Appointment/{appointment.json()['id']}"
    assert drbob.get("/Encounter", params={"appointment": visit}).json().get("total") == 0  # nothing on her chart


def test_a_wallet_outside_the_node_quotes_books_and_the_practitioner_finishes(office: Office) -> None:
    world = office.api.world
    alice, drbob = office.api.client(world.alice), office.api.client(world.drbob)
    slot = office.slot(soon=True)  # its room open: the practitioner may join
    quote = alice.get("/Appointment/$quote", params={"patient": f"Patient/{office.alice_id}", "slot": f"Slot/{slot}"})
    assert quote.status_code == 200, quote.text
    said = _named(quote.json())
    assert said["covered"]["valueBoolean"] is False
    assert said["patient-pays"]["valueString"] == str(FEE * CARE)
    assert "no plan" in said["why"]["valueString"]
    offer = _prepare(office, alice, slot)
    assert _named(offer)["appointment"]["resource"]["status"] == "pending"
    before = office.balance(world.alice.address)
    booked = alice.post("/Appointment/$book", json=_signed_book(office, offer))
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    assert appointment["status"] == "booked"
    assert office.balance(world.alice.address) == before - FEE * CARE
    assert alice.post(f"/Appointment/{appointment['id']}/$join").status_code == 403  # only the practitioner
    encounter = drbob.post(f"/Appointment/{appointment['id']}/$join")
    assert encounter.status_code == 200, encounter.text
    assert (encounter.json()["class"]["code"], encounter.json()["status"]) == ("VR", "in-progress")
    early = drbob.post(f"/Appointment/{appointment['id']}/$finish")
    assert early.status_code == 409  # the Encounter is finished; the fee waits for the slot's start
    tester = world.node.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.time_travel(int(datetime.fromisoformat(appointment["start"]).timestamp()) + 60)
    tester.mine_blocks(1)
    finished = drbob.post(f"/Appointment/{appointment['id']}/$finish")
    assert finished.status_code == 200, finished.text
    parts = _named(finished.json())
    assert parts["encounter"]["resource"]["status"] == "finished"
    payment = {p["name"]: p["valueString"] for p in parts["payment"]["part"]}
    assert (payment["state"], payment["to-payee"]) == ("released", str(FEE * CARE))
