"""Visits: the quote before booking (covered with a copay, uncovered, no plan), booking in one flow (consent,
escrow, slot) and its undoing when a step fails, the visit's Encounter, the fee released when it is finished and
refunded when the provider cancels. The patient's wallet is eth-account's, as a wallet outside the project."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.chain import Role
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET
from careledger.consent import Purpose, SignedConsent
from careledger.crypto import sign_typed_data
from careledger.errors import (
    AccessDenied,
    Conflict,
    InvalidSignature,
    TransactionReverted,
    ValidationError,
    Withheld,
)
from careledger.fhir import URI
from careledger.identity import Wallet
from careledger.portal._signing import for_javascript
from careledger.records import Category, Resource, search_query
from careledger.telehealth import (
    NO_SHOW_BPS,
    Agreed,
    Booked,
    BookingOffer,
    Hold,
    Offer,
    VisitMode,
    VisitPayment,
    Visits,
    VisitSignatures,
)
from careledger.telehealth._admission import admit
from careledger.testdata import CARE, example_plan_terms, insure, synthetic_patients
from tests.telehealth.clinic import Clinic, clinic_at

DEDUCTIBLE = 30 * CARE + 1  # one base unit more, so the coinsurance's rounding shows
TELEHEALTH_FEE = 80  # whole CARE, as a Schedule's fee is written
HALF_HOUR = timedelta(minutes=30)


@dataclass
class Visiting:
    """H2's clinic, with a telehealth Schedule of Dr Bob's beside his office visits, and the visits service."""

    clinic: Clinic
    visits: Visits
    telehealth: str  # the telehealth Schedule's id
    carol: Wallet  # a patient in no plan
    carol_id: str

    opened: int = 0

    def slot(self, schedule: str | None = None) -> str:
        """A new free 30-minute slot on the telehealth Schedule (or `schedule`), two days on, each an hour later."""
        self.opened += 1
        start = (self.clinic.now[0] + timedelta(days=2, hours=self.opened)).replace(second=0, microsecond=0)
        door = self.clinic.door(self.clinic.drbob)
        (slot,) = self.clinic.scheduling.open_slots(door, schedule or self.telehealth, start, start + HALF_HOUR, 30)
        return str(slot["id"])

    def wallet(self, who: Wallet) -> LocalAccount:
        """`who`'s key, as her own wallet holds it."""
        account: LocalAccount = Account.from_key(self.clinic.node.unlock(who.name).account.key)
        return account

    def balance(self, who: str) -> int:
        return self.clinic.node.contracts.token().balance_of(who)


@pytest.fixture(scope="module")
def visiting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Visiting]:
    """Alice in a plan covering telehealth (deductible 30 CARE and a base unit, 20% coinsurance); bob in the
    worked example's plan (office visits, no telehealth); carol in none. Each holds 1,000 CARE."""
    with clinic_at(Path(tmp_path_factory.mktemp("visits")) / "home") as clinic:
        node = clinic.node
        staff = clinic.door(clinic.drbob)
        practitioner = staff.read(clinic.practitioner_id)
        did = f"did:pkh:eip155:{node.chain_id}:{clinic.drbob.address}"
        staff.write({**practitioner, "identifier": [{"system": URI, "value": did}]})  # his record names his wallet
        offer = Offer(clinic.practitioner_id, ServiceClass.TELEHEALTH, VisitMode.VIRTUAL, fee=TELEHEALTH_FEE)
        telehealth = clinic.scheduling.publish(staff, offer)
        insurer = node.wallets.create("insurer", Role.INSURER, "pw")
        insure(node, insurer, [clinic.bob])
        allowed = [0] * 16
        allowed[ServiceClass.TELEHEALTH] = 100 * CARE
        terms = replace(example_plan_terms(node.contracts.token().address), allowed=tuple(allowed))
        node.contracts.token(as_wallet=NODE_WALLET).mint(insurer.address, 1_000 * CARE)
        plan = node.plans.create(insurer.name, replace(terms, deductible=DEDUCTIBLE), fund=1_000 * CARE)
        node.plans.enroll(insurer.name, clinic.alice.address, plan.plan.plan_id)
        carol = node.wallets.create("carol", Role.PATIENT, "pw")
        node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
            carol.address, carol.role, carol.encryption_key
        )
        carol_id = node._records.write(synthetic_patients(1, seed=33)[0].patient, patient_address=carol.address)
        for who in (clinic.alice, clinic.bob, carol):
            node.contracts.token(as_wallet=NODE_WALLET).mint(who.address, 1_000 * CARE)
        visits = Visits(
            node.claims.coverage,
            clinic.scheduling,
            node.visit_payments,
            node.consent,
            node_address=node.address,
            fee_units=lambda fee: fee * CARE,
            clock=lambda: clinic.now[0],  # the scheduling's: a test moves both past a visit
        )
        yield Visiting(clinic, visits, str(telehealth["id"]), carol, carol_id.record_id)


# The quote.


def test_a_covered_visit_is_quoted_exactly_deductible_first_then_coinsurance(visiting: Visiting) -> None:
    """80 CARE: 30 CARE and a base unit toward the deductible, 20% of the rest (rounded down, as the contract
    rounds) her copay; what she pays is exact to the base unit."""
    clinic = visiting.clinic
    quote = visiting.visits.quote(clinic.door(clinic.alice), clinic.alice_id, visiting.slot())
    assert quote.covered
    assert quote.fee == TELEHEALTH_FEE * CARE
    assert quote.deductible_left == DEDUCTIBLE
    assert quote.copay == (TELEHEALTH_FEE * CARE - DEDUCTIBLE) * 2_000 // 10_000 == 10 * CARE - 1
    assert quote.patient_pays == DEDUCTIBLE + 10 * CARE - 1 == 40 * CARE
    assert quote.eligibility is not None
    (item,) = quote.eligibility["insurance"][0]["item"]
    assert (item["category"]["coding"][0]["code"], item["excluded"]) == ("telehealth", False)


def test_an_uncovered_visit_is_said_before_anything_is_paid(visiting: Visiting) -> None:
    clinic = visiting.clinic
    quote = visiting.visits.quote(clinic.door(clinic.bob), clinic.bob_id, visiting.slot())
    assert not quote.covered
    assert quote.patient_pays == quote.fee == TELEHEALTH_FEE * CARE
    assert quote.copay == 0
    assert "does not cover telehealth" in quote.why
    assert quote.eligibility is not None
    assert quote.eligibility["insurance"][0]["item"][0]["excluded"] is True


def test_without_a_plan_the_patient_pays_the_schedules_fee(visiting: Visiting) -> None:
    clinic = visiting.clinic
    office = visiting.slot(clinic.schedule["id"])  # 50 CARE, an office visit
    quote = visiting.visits.quote(clinic.door(visiting.carol), visiting.carol_id, office)
    assert (quote.covered, quote.patient_pays, quote.plan_id) == (False, 50 * CARE, None)
    assert "no plan" in quote.why


def test_a_quote_for_someone_elses_patient_is_told_as_unknown(visiting: Visiting) -> None:
    clinic = visiting.clinic
    with pytest.raises(Withheld):  # told as an unknown id is (404)
        visiting.visits.quote(clinic.door(clinic.bob), clinic.alice_id, visiting.slot())


# Booking.


def _signed(
    visiting: Visiting, who: Wallet, offer: BookingOffer, *, permit_by: Wallet | None = None
) -> VisitSignatures:
    """What her wallet sends back: the typed data as JavaScript reads it, signed."""
    wallet = visiting.wallet(who)
    consent = for_javascript(offer.consent)
    signed = SignedConsent.from_typed_data(consent, sign_typed_data(wallet, consent))
    if offer.payment is None:
        return VisitSignatures(signed)
    payment = for_javascript(offer.payment)
    permit = sign_typed_data(visiting.wallet(permit_by or who), payment["permit"])
    return VisitSignatures(signed, payment["terms"], sign_typed_data(wallet, payment["terms"]), permit)


def _grants(visiting: Visiting, who: Wallet) -> int:
    return len(visiting.clinic.node.consent.grants(patient=who.address))


def test_booking_holds_the_fee_grants_the_visit_consent_and_books_the_slot(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    alice = clinic.door(clinic.alice)
    before = visiting.balance(clinic.alice.address)
    offer = visits.prepare_book(alice, visiting.slot(), clinic.alice_id, [Category.LABS, Category.MEDICATIONS])
    assert offer.appointment["status"] == "pending"
    assert offer.payment is not None
    assert offer.quote.patient_pays == 40 * CARE
    booked = visits.book(alice, offer.appointment["id"], _signed(visiting, clinic.alice, offer))
    assert booked.appointment["status"] == "booked"
    assert booked.payment is not None
    assert (booked.payment.state, booked.payment.amount) == ("held", 40 * CARE)
    assert visiting.balance(clinic.alice.address) == before - 40 * CARE
    grant = booked.grant
    assert (grant.grantee, grant.purposes) == (clinic.drbob.address, (Purpose.TREAT,))
    assert set(grant.categories) == {Category.LABS, Category.MEDICATIONS}
    assert grant.expiry - grant.not_before == 3_600 + 1_800 + 86_400  # an hour before to a day after the slot
    with pytest.raises(Conflict, match="not held for booking"):
        visits.book(alice, offer.appointment["id"], _signed(visiting, clinic.alice, offer))


def test_the_consent_may_name_the_practitioners_node_instead(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    carol = clinic.door(visiting.carol)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS], grantee="node")
    booked = visits.book(carol, offer.appointment["id"], _signed(visiting, visiting.carol, offer))
    assert booked.grant.grantee == clinic.node.address


def test_a_forged_permit_is_refused_before_anything_and_her_hold_kept(visiting: Visiting) -> None:
    """A permit someone else signed: refused (as someone else's signature, not a failed sign-in) before any gas
    and before anything is undone; no consent granted, nothing paid, and her hold kept for her to sign again."""
    clinic, visits = visiting.clinic, visiting.visits
    bob = clinic.door(clinic.bob)
    balance, grants = visiting.balance(clinic.bob.address), _grants(visiting, clinic.bob)
    offer = visits.prepare_book(bob, visiting.slot(), clinic.bob_id, [Category.LABS])
    forged = _signed(visiting, clinic.bob, offer, permit_by=visiting.carol)
    with pytest.raises(AccessDenied, match="permit") as refused:
        visits.book(bob, offer.appointment["id"], forged)
    assert not isinstance(refused.value, InvalidSignature)  # a 403, not the 401 that drops her token
    assert clinic.door(clinic.bob).read(offer.appointment["id"])["status"] == "pending"
    assert (visiting.balance(clinic.bob.address), _grants(visiting, clinic.bob)) == (balance, grants)
    booked = visits.book(bob, offer.appointment["id"], _signed(visiting, clinic.bob, offer))  # the same hold
    assert booked.appointment["status"] == "booked"


def test_when_the_consent_fails_after_the_fee_was_held_the_fee_is_refunded(visiting: Visiting) -> None:
    """Carol's delegate signs her visit's consent; carol ends the delegation on chain before the node has read
    it, so every check here passes, the fee is held, and the chain refuses the consent: the fee goes back to
    her, the slot is freed, and no consent is left."""
    clinic, visits, node = visiting.clinic, visiting.visits, visiting.clinic.node
    carol, delegate = visiting.carol, clinic.bob
    node.consent.delegate(carol.name, delegate.address, [Category.LABS], days=1)
    door = clinic.door(carol)
    offer = visits.prepare_book(door, visiting.slot(), visiting.carol_id, [Category.LABS])
    signed = _signed(visiting, carol, offer)
    consent = for_javascript(offer.consent)
    by_delegate = SignedConsent.from_typed_data(consent, sign_typed_data(visiting.wallet(delegate), consent))
    node.contracts.consent_registry(as_wallet=carol.name).delegate(delegate.address, 0, 0)  # not read here yet
    balance, grants = visiting.balance(carol.address), _grants(visiting, carol)
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        visits.book(door, offer.appointment["id"], replace(signed, consent=by_delegate))
    assert visiting.balance(carol.address) == balance
    assert node.visit_payments.state(offer.appointment["id"]).state == "refunded"
    assert door.read(offer.appointment["id"])["status"] == "cancelled"
    assert _grants(visiting, carol) == grants
    node.consent.sync()  # the node reads the delegation's end: the next such consent is refused before any gas
    assert carol.address not in node.consent.represented(delegate.address)


def test_every_undo_step_is_tried_and_the_original_failure_raised(
    visiting: Visiting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot cannot be booked after the fee was held and the consent granted, and the refund fails too: the
    consent is still withdrawn and the slot freed, and the failure raised is the booking's, the refund's noted
    (a failing refund once skipped the rest and replaced the booking's failure)."""
    clinic, visits, node = visiting.clinic, visiting.visits, visiting.clinic.node
    carol = clinic.door(visiting.carol)
    live = _live(visiting, visiting.carol)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS])
    appointment_id = str(offer.appointment["id"])

    def taken(*args: object, **kwargs: object) -> Resource:
        raise Conflict("the slot was taken meanwhile")

    def unreachable(*args: object, **kwargs: object) -> VisitPayment:
        raise ConnectionError("the chain is unreachable")

    monkeypatch.setattr(clinic.scheduling, "confirm", taken)
    monkeypatch.setattr(node.visit_payments, "refund", unreachable)
    with pytest.raises(Conflict, match="the slot was taken meanwhile") as failed:
        visits.book(carol, appointment_id, _signed(visiting, visiting.carol, offer))
    assert "the chain is unreachable" in str(failed.value)  # what was not undone, said
    assert carol.read(appointment_id)["status"] == "cancelled"  # the slot freed after all
    assert node.visit_payments.state(appointment_id).state == "held"  # the refund that failed, for a person to do
    assert _live(visiting, visiting.carol) == live or "stays granted" in str(failed.value)  # withdrawn, or said


def _live(visiting: Visiting, who: Wallet) -> int:
    return sum(not g.revoked for g in visiting.clinic.node.consent.grants(patient=who.address))


def test_a_second_book_of_one_hold_is_refused_and_undoes_nothing(
    visiting: Visiting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click, or a client retrying after a timeout: while the first `$book` of the hold is under way (its
    fee being held), a second is a `Conflict` before any gas, and the first books the visit; the second's failure
    releases nothing (it once cancelled the shared Appointment, so the first was refunded)."""
    clinic, visits, payments = visiting.clinic, visiting.visits, visiting.clinic.node.visit_payments
    carol = clinic.door(visiting.carol)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS])
    signed, appointment_id = _signed(visiting, visiting.carol, offer), str(offer.appointment["id"])
    holding, go_on = threading.Event(), threading.Event()
    hold = payments.hold

    def slow_hold(*args: object, **kwargs: object) -> VisitPayment:
        holding.set()
        go_on.wait(10)
        return hold(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(payments, "hold", slow_hold)
    first: list[Booked] = []
    booking = threading.Thread(target=lambda: first.append(visits.book(carol, appointment_id, signed)))
    booking.start()
    assert holding.wait(10)
    monkeypatch.setattr(payments, "hold", hold)
    sent = clinic.node.chain.transaction_count(clinic.node.address)
    try:
        with pytest.raises(Conflict, match="being booked already"):
            visits.book(carol, appointment_id, signed)
        assert clinic.node.chain.transaction_count(clinic.node.address) == sent
    finally:
        go_on.set()
        booking.join()
    (booked,) = first
    assert booked.appointment["status"] == carol.read(appointment_id)["status"] == "booked"
    assert payments.state(appointment_id).state == "held"
    with pytest.raises(Conflict, match="not held for booking"):
        visits.book(carol, appointment_id, signed)  # a retry after it was booked
    assert carol.read(appointment_id)["status"] == "booked"


def test_signatures_that_are_not_the_visits_are_refused_and_the_hold_kept(visiting: Visiting) -> None:
    """Refused in words before any gas: the hold stays, so she may sign again."""
    clinic, visits = visiting.clinic, visiting.visits
    carol = clinic.door(visiting.carol)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS])
    signed = _signed(visiting, visiting.carol, offer)
    with pytest.raises(ValidationError, match="sign the escrow's permit and terms"):
        visits.book(carol, offer.appointment["id"], replace(signed, terms=None))
    assert signed.terms is not None
    cheaper = {**signed.terms, "message": {**signed.terms["message"], "amount": str(CARE)}}
    with pytest.raises(ValidationError, match="not the 80000000000000000000 the visit costs her"):
        visits.book(carol, offer.appointment["id"], replace(signed, terms=cheaper))
    bobs = _signed(visiting, clinic.bob, offer)  # bob signs carol's consent
    with pytest.raises(AccessDenied):
        visits.book(carol, offer.appointment["id"], replace(signed, consent=bobs.consent))
    assert clinic.door(visiting.carol).read(offer.appointment["id"])["status"] == "pending"
    assert visits.book(carol, offer.appointment["id"], signed).appointment["status"] == "booked"


def test_the_provider_cancelling_refunds_the_whole_fee(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    alice = clinic.door(clinic.alice)
    offer = visits.prepare_book(alice, visiting.slot(), clinic.alice_id, [Category.LABS])
    booked = visits.book(alice, offer.appointment["id"], _signed(visiting, clinic.alice, offer))
    balance = visiting.balance(clinic.alice.address)
    cancelled, refunded = visits.cancel(clinic.door(clinic.drbob), booked.appointment["id"], "the doctor is ill")
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelationReason"]["coding"][0]["code"] == "prov"
    assert refunded is not None
    assert (refunded.state, refunded.to_patient) == ("refunded", 40 * CARE)
    assert visiting.balance(clinic.alice.address) == balance + 40 * CARE
    again = visits.prepare_book(
        alice, str(offer.appointment["slot"][0]["reference"]).removeprefix("Slot/"), clinic.alice_id, [Category.LABS]
    )
    assert again.appointment["status"] == "pending"  # the slot is free again


def test_the_patient_cancelling_before_the_slot_is_refunded_too(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    bob = clinic.door(clinic.bob)
    offer = visits.prepare_book(bob, visiting.slot(), clinic.bob_id, [Category.LABS])
    booked = visits.book(bob, offer.appointment["id"], _signed(visiting, clinic.bob, offer))
    balance = visiting.balance(clinic.bob.address)
    cancelled, refunded = visits.cancel(bob, booked.appointment["id"])
    assert cancelled["cancelationReason"]["coding"][0]["code"] == "pat"
    assert refunded is not None
    assert visiting.balance(clinic.bob.address) == balance + refunded.to_patient == balance + TELEHEALTH_FEE * CARE


# Booking with no signatures: only a visit she pays nothing for.


def _appointment(visiting: Visiting, slot: str, patient_id: str) -> Resource:
    """A booked Appointment of `patient_id` in `slot`, as a plain FHIR create would send it."""
    found = visiting.clinic.door(visiting.clinic.drbob).read(slot)
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot}"}],
        "start": found["start"],
        "end": found["end"],
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
    }


def test_a_visit_she_would_pay_for_is_not_booked_without_her_signatures(visiting: Visiting) -> None:
    """Carol (no plan) and bob (a plan without telehealth) would pay: `book_free` and a plain write are refused,
    and the slot stays free; a slot of no fee books plainly, and so does one her plan covers whole (dave's)."""
    clinic, visits, node = visiting.clinic, visiting.visits, visiting.clinic.node
    slot = visiting.slot()
    for who, patient in ((visiting.carol, visiting.carol_id), (clinic.bob, clinic.bob_id)):
        door = clinic.door(who)
        with pytest.raises(ValidationError, match=r"has a fee.*\$prepare-book"):
            visits.book_free(door, slot, patient)
        with pytest.raises(AccessDenied, match=r"\$prepare-book"):  # no patient books by a plain write
            visits.written(door, _appointment(visiting, slot, patient))
    with pytest.raises(ValidationError, match="has a fee"):  # naming no patient: nobody's plan pays it
        visits.written(
            clinic.door(clinic.drbob), {**_appointment(visiting, slot, visiting.carol_id), "participant": []}
        )
    with pytest.raises(Withheld):  # a stranger learns nothing of the slot: her Patient is not his to book for
        visits.book_free(clinic.door(clinic.mallory), slot, visiting.carol_id)
    assert clinic.scheduling.opening(clinic.door(visiting.carol), slot).slot["status"] == "free"

    staff = clinic.door(clinic.drbob)
    free = clinic.scheduling.publish(staff, Offer(clinic.practitioner_id, ServiceClass.TELEHEALTH, VisitMode.VIRTUAL))
    booked = visits.book_free(clinic.door(visiting.carol), visiting.slot(free["id"]), visiting.carol_id)
    assert booked["status"] == "booked"

    dave = node.wallets.create("dave", Role.PATIENT, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(dave.address, dave.role, dave.encryption_key)
    dave_id = node._records.write(synthetic_patients(1, seed=34)[0].patient, patient_address=dave.address).record_id
    allowed = [0] * 16
    allowed[ServiceClass.TELEHEALTH] = TELEHEALTH_FEE * CARE
    whole = replace(example_plan_terms(node.contracts.token().address), allowed=tuple(allowed), deductible=0)
    plan = node.plans.create("insurer", replace(whole, coinsurance_bps=0))
    node.plans.enroll("insurer", dave.address, plan.plan.plan_id)
    covered = visits.book_free(clinic.door(dave), slot, dave_id)
    assert covered["status"] == "booked"


def test_a_visit_booked_with_her_signatures_keeps_its_slot_through_plain_updates(visiting: Visiting) -> None:
    """A paid visit's Appointment may be updated as any (a comment); a pending hold made `booked` by a plain
    update, skipping the payment, is refused."""
    clinic, visits = visiting.clinic, visiting.visits
    carol = clinic.door(visiting.carol)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS])
    with pytest.raises(AccessDenied, match="only through the scheduling"):
        visits.written(carol, {**offer.appointment, "status": "booked"})
    booked = visits.book(carol, offer.appointment["id"], _signed(visiting, visiting.carol, offer)).appointment
    assert visits.written(carol, {**booked, "comment": "first visit"}).version == int(booked["meta"]["versionId"]) + 1


# The practitioner's answer.


def test_the_practitioner_declining_cancels_and_refunds_the_whole_fee(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    alice, drbob = clinic.door(clinic.alice), clinic.door(clinic.drbob)
    offer = visits.prepare_book(alice, visiting.slot(), clinic.alice_id, [Category.LABS])
    appointment_id = visits.book(alice, offer.appointment["id"], _signed(visiting, clinic.alice, offer)).appointment[
        "id"
    ]
    with pytest.raises(AccessDenied, match="only the visit's practitioner"):
        visits.respond(alice, appointment_id, accept=False)  # she would be refunded whenever she liked
    balance = visiting.balance(clinic.alice.address)
    response, refund = visits.respond(drbob, appointment_id, accept=False, comment="away that week")
    assert (response["resourceType"], response["participantStatus"]) == ("AppointmentResponse", "declined")
    assert response["appointment"] == {"reference": f"Appointment/{appointment_id}"}
    cancelled = alice.read(appointment_id)
    assert (cancelled["status"], cancelled["cancelationReason"]["coding"][0]["code"]) == ("cancelled", "prov")
    assert refund is not None
    assert (refund.state, refund.to_patient) == ("refunded", 40 * CARE)
    assert visiting.balance(clinic.alice.address) == balance + 40 * CARE
    with pytest.raises(Conflict, match="nothing to answer"):
        visits.respond(drbob, appointment_id, accept=True)


def test_the_practitioner_accepting_keeps_the_visit_and_its_fee(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    carol, drbob = clinic.door(visiting.carol), clinic.door(clinic.drbob)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS])
    appointment_id = visits.book(carol, offer.appointment["id"], _signed(visiting, visiting.carol, offer)).appointment[
        "id"
    ]
    response, refund = visits.respond(drbob, appointment_id, accept=True)
    assert (response["participantStatus"], refund) == ("accepted", None)
    kept = carol.read(appointment_id)
    assert kept["status"] == "booked"
    assert {p["status"] for p in kept["participant"] if p["actor"]["reference"].startswith("Practitioner/")} == {
        "accepted"
    }
    assert clinic.node.visit_payments.state(appointment_id).state == "held"


# The visit (last: the chain's clock moves to the slot).


def test_joining_begins_the_encounter_and_finishing_releases_the_fee(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    carol = clinic.door(visiting.carol)
    offer = visits.prepare_book(carol, visiting.slot(), visiting.carol_id, [Category.LABS])
    appointment_id = offer.appointment["id"]
    visits.book(carol, appointment_id, _signed(visiting, visiting.carol, offer))
    drbob = clinic.door(clinic.drbob)
    with pytest.raises(AccessDenied, match="only the visit's practitioner"):
        visits.join(carol, appointment_id)
    with pytest.raises(Conflict, match="join it first"):
        visits.finish(drbob, appointment_id)
    with pytest.raises(Conflict, match="while its room is open"):
        visits.join(drbob, appointment_id)  # two days early: no visit under way, no Encounter on her chart
    assert visits.encounter(drbob, appointment_id) is None
    today, clinic.now[0] = clinic.now[0], datetime.fromisoformat(offer.appointment["start"]) - timedelta(minutes=10)
    encounter = visits.join(drbob, appointment_id)
    assert (encounter["status"], encounter["class"]["code"]) == ("in-progress", "VR")
    assert encounter["appointment"] == [{"reference": f"Appointment/{appointment_id}"}]
    assert encounter["subject"]["reference"] == f"Patient/{visiting.carol_id}"
    assert visits.join(drbob, appointment_id)["id"] == encounter["id"]  # joining again: the same visit
    clinic.now[0] = today
    with pytest.raises(Conflict, match="has not started"):
        visits.finish(drbob, appointment_id)  # the Encounter is finished, the fee waits for the slot
    _travel_to(visiting, str(offer.appointment["start"]))
    income = visiting.balance(clinic.node.address)
    finished, released = visits.finish(drbob, appointment_id)
    assert (finished["id"], finished["status"]) == (encounter["id"], "finished")
    assert released is not None
    assert released.state == "released"
    assert released.amount == TELEHEALTH_FEE * CARE  # carol has no plan: the whole fee
    assert visiting.balance(clinic.node.address) == income + released.amount
    with pytest.raises(Conflict, match="already settled"):
        visits.finish(drbob, appointment_id)
    assert carol.read(encounter["id"])["status"] == "finished"  # on her timeline
    assert carol.read(appointment_id)["status"] == "fulfilled"  # a visit that took place, as `visited` counts it
    soon = clinic.scheduling.upcoming(carol, f"Patient/{visiting.carol_id}", timedelta(days=7))
    assert appointment_id not in {a["id"] for a in soon}  # no reminder of a visit she had
    with pytest.raises(AccessDenied, match="room is closed"):
        admit(carol, appointment_id, datetime.fromisoformat(offer.appointment["start"]))


def _travel_to(visiting: Visiting, instant: str) -> None:
    """The chain's clock a minute past `instant`."""
    node = visiting.clinic.node
    tester = node.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.time_travel(int(datetime.fromisoformat(instant).timestamp()) + 60)
    tester.mine_blocks(1)


def test_a_missed_visit_is_a_no_show_after_its_slot_the_fee_split_as_published(visiting: Visiting) -> None:
    clinic, visits = visiting.clinic, visiting.visits
    clinic.now[0] = datetime.fromtimestamp(clinic.node.contracts.visit_escrow().chain.timestamp(), UTC)
    carol, drbob = clinic.door(visiting.carol), clinic.door(clinic.drbob)
    booked = _paid_visit(visiting, visiting.carol, visiting.carol_id)
    appointment_id = booked["id"]
    with pytest.raises(Conflict, match="has not ended"):
        visits.no_show(drbob, appointment_id)
    end = str(booked["end"])
    _travel_to(visiting, end)
    clinic.now[0] = datetime.fromisoformat(end) + timedelta(minutes=1)
    with pytest.raises(AccessDenied, match="only the visit's practitioner"):
        visits.no_show(carol, appointment_id)  # she would be refunded half of a visit she may have had
    with pytest.raises(AccessDenied):
        visits.no_show(clinic.door(clinic.mallory), appointment_id)
    balance, income = visiting.balance(visiting.carol.address), visiting.balance(clinic.node.address)
    missed, split = visits.no_show(drbob, appointment_id)
    assert missed["status"] == "noshow"
    assert split is not None
    half = TELEHEALTH_FEE * CARE * NO_SHOW_BPS // 10_000
    assert (split.state, split.to_payee, split.to_patient) == ("no-show", half, TELEHEALTH_FEE * CARE - half)
    assert visiting.balance(visiting.carol.address) == balance + split.to_patient
    assert visiting.balance(clinic.node.address) == income + split.to_payee
    assert [m.kind for m in clinic.node.visit_payments.movements(appointment_id)] == ["held", "no-show"]
    with pytest.raises(Conflict, match="already settled"):
        visits.no_show(drbob, appointment_id)
    with pytest.raises(Conflict, match="only a booked visit"):
        visits.no_show(drbob, _cancelled_visit(visiting))


def _paid_visit(visiting: Visiting, who: Wallet, patient_id: str) -> Resource:
    """A visit of `who`'s booked with its whole fee held as `$book` holds it; its consent left out (the chain's
    clock has moved past any consent signed today: a no-show settles the fee alone)."""
    clinic, payments = visiting.clinic, visiting.clinic.node.visit_payments
    wallet = visiting.wallet(who)

    def pay(hold: Hold) -> None:
        start, end = (int(datetime.fromisoformat(hold.appointment[k]).timestamp()) for k in ("start", "end"))
        typed = for_javascript(payments.prepare(who.address, hold.appointment_id, TELEHEALTH_FEE * CARE, start, end))
        permit, terms = sign_typed_data(wallet, typed["permit"]), sign_typed_data(wallet, typed["terms"])
        agreed = Agreed(TELEHEALTH_FEE * CARE, start, end)
        payments.hold(who.address, hold.appointment_id, typed["terms"], permit, terms, agreed=agreed)

    return clinic.scheduling.book(clinic.door(who), visiting.slot(), patient_id, before_commit=pay)


def _cancelled_visit(visiting: Visiting) -> str:
    """A visit of carol's, booked with no fee and cancelled by her: nothing to miss."""
    clinic = visiting.clinic
    carol = clinic.door(visiting.carol)
    free = clinic.scheduling.publish(
        clinic.door(clinic.drbob), Offer(clinic.practitioner_id, ServiceClass.TELEHEALTH, VisitMode.VIRTUAL)
    )
    booked = visiting.visits.book_free(carol, visiting.slot(free["id"]), visiting.carol_id)
    return str(visiting.visits.cancel(carol, booked["id"])[0]["id"])


# What she paid for, not what the Appointment says: money and time go by the escrow's record.


def test_she_cannot_move_her_visit_by_hand_and_her_refund_goes_by_the_start_she_paid_for(visiting: Visiting) -> None:
    """A plain write of her Appointment moving its start is refused and audited (she would move it past her visit,
    then cancel it for a refund); the provider may move it by hand, but a cancellation of hers still goes by the
    start the escrow holds: once that has passed, only the provider refunds her."""
    clinic, visits, node = visiting.clinic, visiting.visits, visiting.clinic.node
    carol, drbob = clinic.door(visiting.carol), clinic.door(clinic.drbob)
    booked = _paid_visit(visiting, visiting.carol, visiting.carol_id)
    appointment_id = str(booked["id"])
    later = {**carol.read(appointment_id), "start": "2036-01-01T10:00:00Z", "end": "2036-01-01T10:30:00Z"}
    with pytest.raises(AccessDenied, match="only through the scheduling"):
        visits.written(carol, later)
    node.audit.flush()
    entry = node.audit.entries()[-1]
    assert (entry.access.agent, entry.access.allowed) == (visiting.carol.address, False)
    assert carol.read(appointment_id)["start"] == booked["start"]
    visits.written(drbob, later)  # the provider keeps the schedule by hand
    today = clinic.now[0]
    clinic.now[0] = datetime.fromisoformat(str(booked["start"])) + timedelta(minutes=1)
    try:
        with pytest.raises(Conflict, match="has started"):
            visits.cancel(carol, appointment_id)
    finally:
        clinic.now[0] = today
    assert node.visit_payments.state(appointment_id).state == "held"
    assert carol.read(appointment_id)["status"] == "booked"


def test_a_paid_visit_cancelled_by_a_plain_update_is_refunded_and_is_not_moved(visiting: Visiting) -> None:
    """A PUT of `status: cancelled` cancels as `$cancel` does: her fee back, her reason kept. `$reschedule` of a
    paid visit is refused (its escrow slot and signed terms cannot follow it): cancel it and book again."""
    clinic, visits, node = visiting.clinic, visiting.visits, visiting.clinic.node
    carol = clinic.door(visiting.carol)
    booked = _paid_visit(visiting, visiting.carol, visiting.carol_id)
    appointment_id = str(booked["id"])
    with pytest.raises(Conflict, match=r"paid for its slot: cancel it"):
        visits.reschedule(carol, appointment_id, visiting.slot())
    balance = visiting.balance(visiting.carol.address)
    current = carol.read(appointment_id)
    visits.written(carol, {**current, "status": "cancelled", "cancelationReason": {"text": "moving away"}})
    cancelled = carol.read(appointment_id)
    assert (cancelled["status"], cancelled["cancelationReason"]["text"]) == ("cancelled", "moving away")
    assert node.visit_payments.state(appointment_id).state == "refunded"
    assert visiting.balance(visiting.carol.address) == balance + TELEHEALTH_FEE * CARE
    assert visits.cancel(carol, appointment_id) == (cancelled, None)  # again: nothing more to do


def test_a_visit_that_took_place_is_not_cancelled(visiting: Visiting) -> None:
    """Finished, its fee released: cancelling is refused before anything is written (it once left a cancelled
    Appointment whose fee had been paid)."""
    clinic, visits = visiting.clinic, visiting.visits
    carol, drbob = clinic.door(visiting.carol), clinic.door(clinic.drbob)
    booked = _paid_visit(visiting, visiting.carol, visiting.carol_id)
    appointment_id = str(booked["id"])
    today, clinic.now[0] = clinic.now[0], datetime.fromisoformat(str(booked["start"])) - timedelta(minutes=10)
    try:
        visits.join(drbob, appointment_id)  # while its room is open
    finally:
        clinic.now[0] = today
    _travel_to(visiting, str(booked["start"]))
    assert visits.finish(drbob, appointment_id)[1] is not None
    for who in (drbob, carol):
        with pytest.raises(Conflict, match=r"took place|already settled"):
            visits.cancel(who, appointment_id)
    assert carol.read(appointment_id)["status"] == "fulfilled"


def test_two_joins_at_once_begin_one_encounter(visiting: Visiting) -> None:
    """Two tabs, or two workers, joining the visit at the same moment: one Encounter on her chart, which finishing
    closes (two once were written, the other left in progress for ever)."""
    clinic, visits = visiting.clinic, visiting.visits
    drbob = clinic.door(clinic.drbob)
    booked = _paid_visit(visiting, visiting.carol, visiting.carol_id)
    appointment_id = str(booked["id"])
    start = threading.Barrier(2)
    joined: list[str] = []

    def join() -> None:
        start.wait()
        joined.append(visits.join(clinic.door(clinic.drbob), appointment_id)["id"])

    today, clinic.now[0] = clinic.now[0], datetime.fromisoformat(str(booked["start"])) - timedelta(minutes=10)
    try:
        threads = [threading.Thread(target=join) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        clinic.now[0] = today
    assert len(joined) == 2
    assert len(set(joined)) == 1
    query, _ = search_query("Encounter", [("appointment", f"Appointment/{appointment_id}")], patient_address=None)
    assert [e["id"] for e in drbob.search(query)] == joined[:1]
