"""Claims.vy under titanoboa: plans, enrolment, prior authorization, adjudication, payment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.chain._token import permit_typed_data
from careledger.crypto import PrivateKey, sign_typed_data
from tests.contracts.conftest import contract

ORG, PATIENT, INSURER = 1, 3, 5
PAID, PENDED, AWAITING_FUNDS, DENIED, APPEALED = 1, 2, 3, 4, 5
OFFICE_VISIT, SURGERY, LAB, IMAGING, DENTAL = 1, 6, 7, 8, 14
DAY = 86_400
KEY = PrivateKey.generate().public_key.raw
MOCKS = Path(__file__).parent / "mocks"


@dataclass
class World:
    """One insurer's plan in CARE, a network hospital, an enrolled patient."""

    claims: Any
    token: Any
    identity: Any
    admin: Any
    insurer: Any
    hospital: Any
    patient: Any
    plan_id: int


def _now() -> int:
    return int(boa.env.evm.patch.timestamp)


def _register(identity: Any, admin: Any, name: str, role: int) -> Any:
    account = boa.env.generate_address(name)
    with boa.env.prank(admin):
        identity.register_actor(account, role, KEY, 1, "", bytes(32))
    return account


def _schedule(**amounts: int) -> list[int]:
    classes = {"office_visit": OFFICE_VISIT, "surgery": SURGERY, "lab": LAB, "imaging": IMAGING}
    schedule = [0] * 16
    for name, amount in amounts.items():
        schedule[classes[name]] = amount
    return schedule


def _create_plan(world_claims: Any, insurer: Any, token: Any, **terms: Any) -> int:
    start = _now() - 30 * DAY
    arguments = {
        "allowed": _schedule(office_visit=150, lab=80, imaging=1_200, surgery=8_000),
        "deductible": 500,
        "coinsurance_bps": 2_000,
        "oop_max": 1_500,
        "coverage_start": start,
        "coverage_end": start + 365 * DAY,
        "preauth_classes": 1 << IMAGING,
        "review_threshold": 5_000,
    } | terms
    with boa.env.prank(insurer):
        return int(world_claims.create_plan(token.address, *arguments.values()))


@pytest.fixture
def claims(identity: Any, admin: Any) -> Any:
    with boa.env.prank(admin):
        return contract("Claims").deploy(identity.address)


@pytest.fixture
def world(claims: Any, identity: Any, admin: Any) -> World:
    insurer = _register(identity, admin, "insurer", INSURER)
    hospital = _register(identity, admin, "hospital", ORG)
    patient = _register(identity, admin, "patient", PATIENT)
    with boa.env.prank(insurer):
        token = contract("CareToken").deploy()
        token.mint(insurer, 1_000_000)
        token.approve(claims.address, 2**256 - 1)
    plan_id = _create_plan(claims, insurer, token)
    plan = claims.plan(plan_id)
    with boa.env.prank(insurer):
        claims.fund(plan_id, 100_000)
        claims.set_network(plan_id, hospital, True)
        claims.enroll(patient, plan_id, plan.coverage_start, plan.coverage_end)
    return World(claims, token, identity, admin, insurer, hospital, patient, plan_id)


_commitments = iter(range(1, 10**9))


def _submit(
    world: Any, service_class: int, billed: int, *, provider: Any = None, member: Any = None, **extra: int
) -> Any:
    """Submit a claim with a fresh commitment; the stored claim and its adjudication event."""
    provider = provider or world.hospital
    commitment = keccak(next(_commitments).to_bytes(32, "big"))
    with boa.env.prank(provider):
        claim_id = world.claims.submit_claim(
            member or world.patient,
            service_class,
            billed,
            extra.get("service_date", _now() - DAY),
            commitment,
            extra.get("preauth_id", 0),
        )
    event = _adjudication(world.claims)
    return claim_id, world.claims.claim(claim_id), event


def _adjudication(claims: Any) -> Any:
    """The last call's ClaimAdjudicated event."""
    return next(e for e in claims.get_logs() if type(e).__name__ == "ClaimAdjudicated")


def _preauth(world: World, service_class: int, *, approve: bool = True, reason: int = 0) -> int:
    with boa.env.prank(world.hospital):
        preauth_id = int(world.claims.request_preauth(world.patient, service_class, keccak(b"request")))
    with boa.env.prank(world.insurer):
        world.claims.decide_preauth(preauth_id, approve, reason, _now() + 30 * DAY)
    return preauth_id


def test_a_claim_under_the_deductible_is_the_patients_to_pay(world: World) -> None:
    balance = world.token.balanceOf(world.hospital)
    _, claim, event = _submit(world, OFFICE_VISIT, 200)
    assert (claim.status, claim.payer_share, claim.patient_share) == (PAID, 0, 150)
    assert (event.allowed, event.deductible, event.coinsurance) == (150, 150, 0)
    assert world.token.balanceOf(world.hospital) == balance
    assert world.claims.enrolment(world.patient).deductible_met == 150


def test_a_claim_paid_in_full_once_the_out_of_pocket_maximum_is_met(world: World) -> None:
    plan_id = _create_plan(world.claims, world.insurer, world.token, deductible=0, coinsurance_bps=0, oop_max=0)
    member = _enrol_new_member(world, plan_id)
    _, claim, event = _submit(world, LAB, 80, member=member)
    assert (claim.status, claim.payer_share, claim.patient_share, event.allowed) == (PAID, 80, 0, 80)
    assert world.token.balanceOf(world.hospital) == 80


def test_a_claim_partly_to_the_deductible_then_coinsurance_pays_the_provider_at_once(world: World) -> None:
    _submit(world, OFFICE_VISIT, 150)
    _, claim, event = _submit(world, IMAGING, 1_500, preauth_id=_preauth(world, IMAGING))
    # allowed 1,200: 350 left of the deductible, 20% of the other 850.
    assert (event.allowed, event.deductible, event.coinsurance) == (1_200, 350, 170)
    assert (claim.status, claim.payer_share, claim.patient_share) == (PAID, 680, 520)
    assert world.token.balanceOf(world.hospital) == 680
    assert world.claims.plan(world.plan_id).escrow == 100_000 - 680
    enrolment = world.claims.enrolment(world.patient)
    assert (enrolment.deductible_met, enrolment.out_of_pocket) == (500, 670)


def test_coinsurance_alone_once_the_deductible_is_met(world: World) -> None:
    plan_id = _create_plan(world.claims, world.insurer, world.token, deductible=0, coinsurance_bps=2_500)
    member = _enrol_new_member(world, plan_id)
    _, claim, event = _submit(world, LAB, 99, member=member)
    # 25% of 80, rounded down in the member's favour.
    assert (event.deductible, event.coinsurance, claim.patient_share, claim.payer_share) == (0, 20, 20, 60)


def test_the_out_of_pocket_maximum_caps_the_members_share(world: World) -> None:
    plan_id = _create_plan(world.claims, world.insurer, world.token, review_threshold=0)
    member = _enrol_new_member(world, plan_id)
    _submit(world, SURGERY, 8_000, member=member)  # 500 + 20% of 7,500 = 2,000 -> capped at 1,500
    _, claim, event = _submit(world, LAB, 80, member=member)
    assert (claim.payer_share, claim.patient_share, event.deductible, event.coinsurance) == (80, 0, 0, 0)
    enrolment = world.claims.enrolment(member)
    assert (enrolment.deductible_met, enrolment.out_of_pocket) == (500, 1_500)


def test_a_member_not_enrolled_is_denied_31(world: World) -> None:
    stranger = _register(world.identity, world.admin, "stranger", PATIENT)
    _, claim, event = _submit(world, OFFICE_VISIT, 100, member=stranger)
    assert (claim.status, claim.reason, claim.plan_id, event.payer_share) == (DENIED, 31, 0, 0)


def test_services_outside_the_enrolment_are_denied_26_or_27(world: World) -> None:
    plan = world.claims.plan(world.plan_id)
    member = _enrol_new_member(world, world.plan_id, start=plan.coverage_start + 10 * DAY, end=_now() - 2 * DAY)
    assert _submit(world, OFFICE_VISIT, 100, member=member, service_date=plan.coverage_start)[1].reason == 26
    assert _submit(world, OFFICE_VISIT, 100, member=member, service_date=_now() - DAY)[1].reason == 27


def test_a_claim_filed_after_the_filing_limit_is_denied_29(world: World) -> None:
    service_date = _now() - DAY
    boa.env.time_travel(seconds=366 * DAY)
    assert _submit(world, OFFICE_VISIT, 100, service_date=service_date)[1].reason == 29


def test_a_class_the_plan_does_not_cover_is_denied_96(world: World) -> None:
    _, claim, _ = _submit(world, DENTAL, 100)
    assert (claim.status, claim.reason) == (DENIED, 96)


def test_a_provider_outside_the_network_is_denied_242(world: World) -> None:
    clinic = _register(world.identity, world.admin, "clinic", ORG)
    _, claim, _ = _submit(world, OFFICE_VISIT, 100, provider=clinic)
    assert (claim.status, claim.reason) == (DENIED, 242)


def test_the_same_claim_twice_is_refused_as_a_duplicate(world: World) -> None:
    commitment = keccak(b"claim")
    with boa.env.prank(world.hospital):
        world.claims.submit_claim(world.patient, LAB, 80, _now() - DAY, commitment, 0)
        with boa.reverts("claims: duplicate claim (CARC 18)"):
            world.claims.submit_claim(world.patient, LAB, 80, _now() - DAY, commitment, 0)
    assert world.claims.enrolment(world.patient).deductible_met == 80


def test_no_one_takes_a_providers_claim_id_first(world: World) -> None:
    commitment, squatter = keccak(b"claim"), _register(world.identity, world.admin, "squatter", ORG)
    with boa.env.prank(squatter):
        squatted = world.claims.submit_claim(world.patient, LAB, 80, _now() - DAY, commitment, 0)
    with boa.env.prank(world.hospital):
        claim_id = world.claims.submit_claim(world.patient, LAB, 80, _now() - DAY, commitment, 0)
    assert claim_id != squatted
    assert world.claims.claim(claim_id).status == PAID
    assert claim_id == world.claims.claim_id_of(world.hospital, commitment)


def test_prior_authorization_missing_is_denied_197(world: World) -> None:
    _, claim, _ = _submit(world, IMAGING, 1_000)
    assert (claim.status, claim.reason) == (DENIED, 197)


def test_prior_authorization_denied_is_denied_39(world: World) -> None:
    preauth_id = _preauth(world, IMAGING, approve=False, reason=50)
    _, claim, _ = _submit(world, IMAGING, 1_000, preauth_id=preauth_id)
    assert (claim.status, claim.reason) == (DENIED, 39)
    assert world.claims.preauth(preauth_id).reason == 50


def test_an_authorization_is_used_once_and_only_for_its_class_and_period(world: World) -> None:
    lab_auth = _preauth(world, LAB)
    assert _submit(world, IMAGING, 1_000, preauth_id=lab_auth)[1].reason == 15
    imaging_auth = _preauth(world, IMAGING)
    assert _submit(world, IMAGING, 1_000, preauth_id=imaging_auth, service_date=_now() + 0)[1].status == PAID
    assert _submit(world, IMAGING, 1_000, preauth_id=imaging_auth)[1].reason == 15
    assert world.claims.preauth(imaging_auth).status == 4
    later = _preauth(world, IMAGING)
    boa.env.time_travel(seconds=32 * DAY)
    assert _submit(world, IMAGING, 1_000, preauth_id=later, service_date=_now() - DAY)[1].reason == 15


def test_a_pending_authorization_is_not_an_authorization(world: World) -> None:
    with boa.env.prank(world.hospital):
        preauth_id = world.claims.request_preauth(world.patient, IMAGING, keccak(b"request"))
    assert _submit(world, IMAGING, 1_000, preauth_id=preauth_id)[1].reason == 15


def test_a_claim_above_the_review_threshold_is_pended_then_approved_and_paid(world: World) -> None:
    claim_id, claim, event = _submit(world, SURGERY, 9_000)
    assert (claim.status, claim.reason, event.allowed) == (PENDED, 133, 8_000)
    assert world.token.balanceOf(world.hospital) == 0
    assert world.claims.plan(world.plan_id).open_claims == 1
    with boa.env.prank(world.insurer):
        world.claims.approve(claim_id)
    claim = world.claims.claim(claim_id)
    assert (claim.status, claim.reason, claim.payer_share, claim.patient_share) == (PAID, 0, 6_500, 1_500)
    assert world.token.balanceOf(world.hospital) == 6_500
    assert world.claims.plan(world.plan_id).open_claims == 0


def test_a_pended_claim_denied_by_the_insurer_pays_nothing_and_leaves_accumulators(world: World) -> None:
    claim_id, _, _ = _submit(world, SURGERY, 9_000)
    with boa.env.prank(world.insurer):
        world.claims.deny(claim_id, 50)
    claim = world.claims.claim(claim_id)
    assert (claim.status, claim.reason, claim.payer_share) == (DENIED, 50, 0)
    assert world.claims.enrolment(world.patient).out_of_pocket == 0
    assert world.claims.plan(world.plan_id).open_claims == 0


def test_a_short_escrow_holds_the_claim_until_funds_arrive(world: World) -> None:
    plan_id = _create_plan(world.claims, world.insurer, world.token, deductible=0, coinsurance_bps=0)
    member = _enrol_new_member(world, plan_id, fund=50)
    claim_id, claim, _ = _submit(world, LAB, 80, member=member)
    assert (claim.status, claim.payer_share) == (AWAITING_FUNDS, 80)
    assert world.claims.enrolment(member).out_of_pocket == 0
    with boa.reverts("claims: the escrow is still short"):
        world.claims.release(claim_id)
    with boa.env.prank(world.insurer):
        world.claims.fund(plan_id, 30)
    world.claims.release(claim_id)
    assert world.claims.claim(claim_id).status == PAID
    assert world.token.balanceOf(world.hospital) == 80
    assert world.claims.plan(plan_id).escrow == 0


def test_an_appeal_is_heard_once(world: World) -> None:
    claim_id, _, _ = _submit(world, IMAGING, 1_000)
    with boa.env.prank(world.insurer), boa.reverts("claims: claim is not pended or appealed"):
        world.claims.approve(claim_id)
    with boa.env.prank(world.hospital):
        world.claims.appeal(claim_id, keccak(b"notes"))
    assert world.claims.claim(claim_id).status == APPEALED
    with boa.env.prank(world.insurer):
        world.claims.deny(claim_id, 197)
    with boa.env.prank(world.hospital), boa.reverts("claims: already appealed once"):
        world.claims.appeal(claim_id, keccak(b"more notes"))


def test_an_upheld_appeal_pays_the_claim(world: World) -> None:
    claim_id, _, _ = _submit(world, IMAGING, 1_000)
    with boa.env.prank(world.hospital):
        world.claims.appeal(claim_id, keccak(b"notes"))
    with boa.env.prank(world.insurer):
        world.claims.approve(claim_id)
    claim = world.claims.claim(claim_id)
    assert (claim.status, claim.payer_share, claim.patient_share) == (PAID, 400, 600)


def test_only_the_provider_appeals_and_not_every_denial(world: World) -> None:
    claim_id, _, _ = _submit(world, IMAGING, 1_000)
    with boa.env.prank(world.insurer), boa.reverts("claims: only the provider appeals"):
        world.claims.appeal(claim_id, keccak(b"notes"))
    not_covered, _, _ = _submit(world, DENTAL, 100)
    with boa.env.prank(world.hospital), boa.reverts("claims: this denial cannot be appealed; submit a corrected claim"):
        world.claims.appeal(not_covered, keccak(b"notes"))


def test_only_the_insurer_changes_its_plans(world: World) -> None:
    outsider = world.hospital
    with boa.env.prank(outsider):
        with boa.reverts("claims: only the plan's insurer"):
            world.claims.set_plan_terms(world.plan_id, _schedule(lab=1), 0, 0)
        with boa.reverts("claims: only the plan's insurer"):
            world.claims.enroll(outsider, world.plan_id, _now(), _now() + DAY)
        with boa.reverts("claims: only the plan's insurer"):
            world.claims.set_network(world.plan_id, outsider, True)
        with boa.reverts("claims: not an insurer"):
            _create_plan(world.claims, outsider, world.token)
    claim_id, _, _ = _submit(world, SURGERY, 9_000)
    with boa.env.prank(world.hospital), boa.reverts("claims: only the plan's insurer"):
        world.claims.approve(claim_id)
    with boa.env.prank(world.insurer):
        world.claims.set_plan_terms(world.plan_id, _schedule(lab=90), 0, 0)
    assert world.claims.allowed_amount(world.plan_id, LAB) == 90


def test_escrow_is_withdrawn_only_after_the_filing_limit_with_no_open_claims(world: World) -> None:
    claim_id, _, _ = _submit(world, SURGERY, 9_000)
    with boa.env.prank(world.insurer):
        with boa.reverts("claims: claims may still arrive for this plan"):
            world.claims.withdraw(world.plan_id, 1, world.insurer)
        boa.env.time_travel(seconds=2 * 365 * DAY)
        with boa.reverts("claims: the plan has open claims"):
            world.claims.withdraw(world.plan_id, 1, world.insurer)
        world.claims.deny(claim_id, 50)
        world.claims.withdraw(world.plan_id, 100_000, world.insurer)
    assert world.claims.plan(world.plan_id).escrow == 0


def test_the_member_pays_their_share_with_a_permit(world: World) -> None:
    member_account = Account.create()
    member = _enrol_new_member(world, world.plan_id, member=member_account.address)
    with boa.env.prank(world.insurer):
        world.token.transfer(member, 1_000)
    claim_id, claim, _ = _submit(world, OFFICE_VISIT, 150, member=member)
    deadline = _now() + DAY
    typed = permit_typed_data(
        owner=member,
        spender=world.claims.address,
        value=claim.patient_share,
        nonce=0,
        deadline=deadline,
        chain_id=boa.env.evm.patch.chain_id,
        token=world.token.address,
    )
    signature = sign_typed_data(member_account, typed)
    v, r, s = signature[64], signature[:32], signature[32:64]
    world.claims.pay_patient_share(claim_id, deadline, v, r, s)  # submitted by someone else
    assert world.token.balanceOf(member) == 850
    assert world.token.balanceOf(world.hospital) == 150
    with boa.reverts("claims: the member's share is paid already"):
        world.claims.pay_patient_share(claim_id, deadline, v, r, s)


def test_payment_is_safe_against_a_hostile_token_reentering(world: World) -> None:
    hostile = boa.load(str(MOCKS / "HostileToken.vy"))
    hostile.mint(world.insurer, 10_000)
    with boa.env.prank(world.insurer):
        hostile.approve(world.claims.address, 10_000)
    plan_id = _create_plan(world.claims, world.insurer, hostile, deductible=0, coinsurance_bps=0)
    member = _enrol_new_member(world, plan_id, fund=1_000)
    claim_id, claim, _ = _submit(world, LAB, 80, member=member)
    assert claim.status == PAID
    # Armed: the next payment calls back into Claims, first to be paid again, then to submit anew.
    for payload in (
        world.claims.release.prepare_calldata(claim_id),
        world.claims.submit_claim.prepare_calldata(member, LAB, 80, _now() - DAY, keccak(b"again"), 0),
    ):
        hostile.arm(world.claims.address, payload)
        _submit(world, LAB, 80, member=member)
        assert hostile.attempts() > 0
        assert not hostile.reentered()
    assert hostile.balanceOf(world.hospital) == 240
    assert world.claims.plan(plan_id).escrow == 1_000 - 240 == hostile.balanceOf(world.claims.address)


def _enrol_new_member(world: World, plan_id: int, *, fund: int = 100_000, member: Any = None, **period: int) -> Any:
    """A newly registered patient enrolled in `plan_id`, with the hospital in its network."""
    member = member or boa.env.generate_address("member")
    with boa.env.prank(world.admin):
        world.identity.register_actor(member, PATIENT, KEY, 1, "", bytes(32))
    plan = world.claims.plan(plan_id)
    with boa.env.prank(world.insurer):
        if fund:
            world.claims.fund(plan_id, fund)
        world.claims.set_network(plan_id, world.hospital, True)
        world.claims.enroll(
            member, plan_id, period.get("start", plan.coverage_start), period.get("end", plan.coverage_end)
        )
    return member


_claim_steps = st.lists(
    st.tuples(
        st.sampled_from([OFFICE_VISIT, SURGERY, LAB, IMAGING, DENTAL]),
        st.integers(1, 12_000),  # billed
        st.sampled_from(["approve", "deny", "fund"]),  # what the insurer does about an open claim
    ),
    min_size=1,
    max_size=10,
)


@given(
    deductible=st.integers(0, 3_000),
    extra_oop=st.integers(0, 4_000),
    coinsurance_bps=st.integers(0, 10_000),
    review_threshold=st.sampled_from([0, 500, 5_000]),
    escrow=st.integers(0, 20_000),
    steps=_claim_steps,
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_shares_escrow_and_accumulators_stay_within_the_plan(
    world: World,
    deductible: int,
    extra_oop: int,
    coinsurance_bps: int,
    review_threshold: int,
    escrow: int,
    steps: list[tuple[int, int, str]],
) -> None:
    with boa.env.anchor():
        with boa.env.prank(world.insurer):
            token = contract("CareToken").deploy()
            token.mint(world.insurer, 10**9)
            token.approve(world.claims.address, 2**256 - 1)
        oop_max = deductible + extra_oop
        plan_id = _create_plan(
            world.claims,
            world.insurer,
            token,
            deductible=deductible,
            oop_max=oop_max,
            coinsurance_bps=coinsurance_bps,
            review_threshold=review_threshold,
            preauth_classes=0,
        )
        member = _enrol_new_member(world, plan_id, fund=escrow)
        funded = escrow
        for service_class, billed, decision in steps:
            claim_id, claim, _ = _submit(world, service_class, billed, member=member)
            if claim.status == PENDED:
                with boa.env.prank(world.insurer):
                    if decision == "deny":
                        world.claims.deny(claim_id, 50)
                    else:
                        world.claims.approve(claim_id)
                claim = world.claims.claim(claim_id)
            if claim.status == AWAITING_FUNDS and decision == "fund":
                with boa.env.prank(world.insurer):
                    world.claims.fund(plan_id, claim.payer_share)
                funded += claim.payer_share
                world.claims.release(claim_id)
                claim = world.claims.claim(claim_id)
            if claim.status == PAID:
                allowed = world.claims.allowed_amount(plan_id, service_class)
                assert claim.payer_share + claim.patient_share == min(billed, allowed)
            plan = world.claims.plan(plan_id)
            assert plan.escrow == token.balanceOf(world.claims.address) <= funded
            assert plan.escrow + token.balanceOf(world.hospital) == funded
            enrolment = world.claims.enrolment(member)
            assert enrolment.deductible_met <= deductible
            assert enrolment.out_of_pocket <= oop_max


def test_the_admin_pauses_every_change_in_an_emergency_and_views_stay_open(world: World) -> None:
    claim_id, _, _ = _submit(world, LAB, 80)
    with boa.env.prank(world.insurer), boa.reverts("access_control: account is missing role"):
        world.claims.pause()
    with boa.env.prank(world.admin):
        world.claims.pause()
    assert world.claims.paused()
    for party, call in (
        (world.hospital, lambda: _submit(world, LAB, 80)),
        (world.insurer, lambda: world.claims.fund(world.plan_id, 1)),
        (world.insurer, lambda: world.claims.set_network(world.plan_id, world.hospital, False)),
        (world.hospital, lambda: world.claims.request_preauth(world.patient, IMAGING, keccak(b"r"))),
        (world.hospital, lambda: world.claims.release(claim_id)),
    ):
        with boa.env.prank(party), boa.reverts("pausable: contract is paused"):
            call()
    assert world.claims.claim(claim_id).status == PAID
    assert world.claims.plan(world.plan_id).insurer == world.insurer
    with boa.env.prank(world.admin):
        world.claims.unpause()
    _, claim, _ = _submit(world, LAB, 80)
    assert claim.status == PAID
