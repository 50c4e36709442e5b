"""Visits: the quote before booking (covered, uncovered, no plan), the visit's consent and its window, and the
visit's Encounter begun and finished by its practitioner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from careledger.access import AFFILIATION, Accessor, Repository
from careledger.chain import Role
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET
from careledger.consent import ConsentTerms, Purpose, SignedConsent
from careledger.errors import AccessDenied, Conflict, ValidationError, Withheld
from careledger.fhir import URI
from careledger.identity import Wallet
from careledger.records import Category
from careledger.telehealth import VisitConsents, Visits, VisitWindow
from careledger.testdata import CARE, example_plan_terms, insure, synthetic_patients
from tests.access.conftest import World, built_world

HOUR, DAY = 3_600, 86_400
COVERED = 100 * CARE  # the telehealth plan allows this much of a visit
DEDUCTIBLE = 30 * CARE


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The access world (memory chain, a clock moved with the chain): alice in a plan covering telehealth
    (deductible 30 CARE, 20% coinsurance), the guardian in the worked example's plan (no telehealth), Dr Bob of
    the node's care team; mallory, a practitioner of no affiliation here, is who a visit's consent names."""
    with built_world(Path(tmp_path_factory.mktemp("visits")) / "home") as world:
        node = world.node
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 30 * DAY)
        insurer = node.wallets.create("insurer", Role.INSURER, "pw")
        insure(node, insurer, [world.guardian])
        allowed = [0] * 16
        allowed[ServiceClass.TELEHEALTH] = COVERED
        terms = replace(
            example_plan_terms(node.contracts.token().address), allowed=tuple(allowed), deductible=DEDUCTIBLE
        )
        node.contracts.token(as_wallet=NODE_WALLET).mint(insurer.address, 1_000 * CARE)
        plan = node.plans.create(insurer.name, terms, fund=1_000 * CARE)
        node.plans.enroll(insurer.name, world.alice.address, plan.plan.plan_id)
        node._records.write(synthetic_patients(1, seed=31)[0].patient, patient_address=world.guardian.address)
        yield world


def _door(world: World, who: Wallet) -> Repository:
    """`who`'s guarded repository, judged by the world's clock (which `World.travel` moves with the chain)."""
    return world.access.for_caller(Accessor(who.address))


def _patient_id(world: World, who: Wallet) -> str:
    (patient,) = world.node._records.list(resource_type="Patient", patient_address=who.address)
    return patient.record_id


def test_a_covered_visit_is_quoted_exactly_deductible_first_then_coinsurance(world: World) -> None:
    """80 CARE and 7 base units: 30 CARE toward the deductible, 20% of the rest (rounded down as the contract
    rounds) is her copay; what she pays is exact to the base unit."""
    visits = Visits(world.node.claims.coverage)
    alice = _door(world, world.alice)
    quote = visits.quote_fee(alice, _patient_id(world, world.alice), 80 * CARE + 7)
    assert quote.covered
    assert quote.plan_id is not None
    assert quote.deductible_left == DEDUCTIBLE
    assert quote.copay == (50 * CARE + 7) * 2_000 // 10_000 == 10 * CARE + 1
    assert quote.patient_pays == DEDUCTIBLE + 10 * CARE + 1
    assert quote.eligibility is not None
    (item,) = quote.eligibility["insurance"][0]["item"]
    assert (item["category"]["coding"][0]["code"], item["excluded"]) == ("telehealth", False)
    above = visits.quote_fee(alice, _patient_id(world, world.alice), COVERED + 20 * CARE)
    assert above.patient_pays == DEDUCTIBLE + (COVERED - DEDUCTIBLE) // 5 + 20 * CARE  # the part not allowed is hers
    assert "20000000000000000000 above it is the patient's" in above.why


def test_an_uncovered_visit_is_said_before_anything_is_paid(world: World) -> None:
    visits = Visits(world.node.claims.coverage)
    quote = visits.quote_fee(_door(world, world.guardian), _patient_id(world, world.guardian), 75 * CARE)
    assert not quote.covered
    assert quote.patient_pays == quote.fee == 75 * CARE
    assert quote.copay == 0
    assert "does not cover telehealth" in quote.why
    assert quote.eligibility is not None
    assert quote.eligibility["insurance"][0]["item"][0]["excluded"] is True


def test_without_a_plan_the_patient_pays_the_schedules_fee(world: World) -> None:
    node = world.node
    carol = node.wallets.create("carol-visits", Role.PATIENT, "pw")
    node._records.write(synthetic_patients(1, seed=32)[0].patient, patient_address=carol.address)
    quote = Visits(node.claims.coverage).quote_fee(_door(world, carol), _patient_id(world, carol), 60 * CARE)
    assert (quote.covered, quote.patient_pays, quote.plan_id) == (False, 60 * CARE, None)
    assert "no plan" in quote.why


def test_a_quote_for_someone_elses_patient_is_told_as_unknown(world: World) -> None:
    visits = Visits(world.node.claims.coverage)
    with pytest.raises(Withheld):  # told as an unknown id is (404)
        visits.quote_fee(_door(world, world.mallory), _patient_id(world, world.alice), 60 * CARE)
    with pytest.raises(ValidationError, match="not negative"):
        visits.quote_fee(_door(world, world.alice), _patient_id(world, world.alice), -1)


def _signed_visit_consent(world: World, window: VisitWindow) -> tuple[VisitConsents, SignedConsent, ConsentTerms]:
    """Alice's consent for a visit with mallory in `window` (her labs), signed by eth-account as a wallet outside
    the project does; and the terms the visit expects."""
    consents = VisitConsents(world.consent, clock=lambda: world.now[0])
    terms = consents.terms(world.alice.address, world.mallory.address, [Category.LABS], window)
    typed = consents.prepare(terms, valid_until=window.start)
    key = world.node.unlock(world.alice.name).account.key
    signature = bytes(Account.sign_typed_data(key, full_message=typed).signature)
    return consents, SignedConsent.from_typed_data(typed, signature), terms


def test_the_visit_consent_lets_the_practitioner_read_only_around_the_visit(world: World) -> None:
    """From an hour before the slot to a day after it, and not a second outside."""
    start = int(world.now[0]) + 2 * HOUR
    window = VisitWindow(start, start + 1_800)
    consents, signed, expected = _signed_visit_consent(world, window)
    grant = consents.submit(signed, expected)
    assert (grant.not_before, grant.expiry, grant.purposes) == (start - HOUR, start + 1_800 + DAY, (Purpose.TREAT,))
    world.assert_denied(world.mallory, world.labs_id, "not valid yet")  # two hours before
    world.travel(HOUR + 1)  # 59 minutes before
    assert _door(world, world.mallory).read(world.labs_id)["id"] == world.labs_id
    world.assert_denied(world.mallory, world.mental_health_id, "mental-health")  # only the categories she picked
    world.travel(HOUR + 1_800 + DAY - 2)  # the last second of the window
    assert _door(world, world.mallory).read(world.labs_id)["id"] == world.labs_id
    world.travel(1)
    world.assert_denied(world.mallory, world.labs_id, "has expired")


def test_a_visit_consent_revoked_earlier_is_refused_at_once(world: World) -> None:
    start = int(world.now[0]) + 1_800
    consents, signed, expected = _signed_visit_consent(world, VisitWindow(start, start + 1_800))
    grant = consents.submit(signed, expected)
    assert _door(world, world.mallory).read(world.labs_id)
    world.consent.revoke(world.alice.name, grant.grant_id)
    world.assert_denied(world.mallory, world.labs_id, "revoked")


def test_a_consent_that_is_not_the_visits_is_refused_before_any_gas(world: World) -> None:
    start = int(world.now[0]) + 3 * HOUR
    window = VisitWindow(start, start + 1_800)
    consents, signed, expected = _signed_visit_consent(world, window)
    with pytest.raises(ValidationError, match="hour before the slot"):
        consents.check(signed, replace(expected, expiry=expected.expiry + DAY))
    with pytest.raises(ValidationError, match="must name"):
        consents.check(signed, replace(expected, grantee=world.drbob.address))
    with pytest.raises(AccessDenied, match="booking patient's own"):
        consents.check(signed, replace(expected, patient=world.guardian.address))
    with pytest.raises(ValidationError, match="treatment"):
        consents.check(
            replace(signed, terms=replace(expected, purposes=Purpose.TREAT.bit | Purpose.HRESCH.bit)), expected
        )
    with pytest.raises(ValidationError, match="at least one category"):
        consents.terms(world.alice.address, world.mallory.address, [], window)
    with pytest.raises(ValidationError, match="ends after"):
        VisitWindow(start, start)


def _appointment(world: World, practitioner: Wallet, status: str = "booked") -> str:
    """A booked virtual Appointment of alice's with `practitioner` (named by her wallet), as scheduling writes it."""
    did = f"did:pkh:eip155:{world.node.chain_id}:{practitioner.address}"
    start = time.time() + 600
    return world.node._records.write(
        {
            "resourceType": "Appointment",
            "status": status,
            "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
            "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 1_800)),
            "participant": [
                {"actor": {"reference": f"Patient/{_patient_id(world, world.alice)}"}, "status": "accepted"},
                {"actor": {"type": "Practitioner", "identifier": {"system": URI, "value": did}}, "status": "accepted"},
            ],
        }
    ).record_id


def test_joining_begins_the_virtual_encounter_once_and_finishing_ends_it(world: World) -> None:
    visits = Visits(world.node.claims.coverage)
    appointment_id = _appointment(world, world.drbob)
    bob = _door(world, world.drbob)
    encounter = visits.join(bob, appointment_id)
    assert (encounter["status"], encounter["class"]["code"]) == ("in-progress", "VR")
    assert encounter["appointment"] == [{"reference": f"Appointment/{appointment_id}"}]
    assert encounter["subject"]["reference"] == f"Patient/{_patient_id(world, world.alice)}"
    assert "start" in encounter["period"]
    assert visits.join(bob, appointment_id)["id"] == encounter["id"]  # joining again: the same visit
    finished = visits.finish(bob, appointment_id)
    assert (finished["id"], finished["status"]) == (encounter["id"], "finished")
    assert finished["period"]["end"] >= finished["period"]["start"]
    with pytest.raises(Conflict, match="already finished"):
        visits.finish(bob, appointment_id)
    mine = _door(world, world.alice).read(encounter["id"])  # on her timeline
    assert mine["status"] == "finished"


def test_only_the_visits_practitioner_joins_and_finishes(world: World) -> None:
    visits = Visits(world.node.claims.coverage)
    appointment_id = _appointment(world, world.drbob)
    with pytest.raises(AccessDenied, match="only the visit's practitioner"):
        visits.join(_door(world, world.alice), appointment_id)
    with pytest.raises(Conflict, match="join it first"):
        visits.finish(_door(world, world.drbob), appointment_id)
    cancelled = _appointment(world, world.drbob, status="cancelled")
    with pytest.raises(Conflict, match="cancelled"):
        visits.join(_door(world, world.drbob), cancelled)
    with pytest.raises(Withheld):
        visits.join(_door(world, world.mallory), appointment_id)  # not hers to see at all
