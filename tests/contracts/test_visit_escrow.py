"""VisitEscrow.vy under titanoboa: a visit's fee held under the patient's permit and signed terms, then settled once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import given
from hypothesis import strategies as st

from careledger.chain import VisitCancellation, VisitTerms, permit_typed_data, visit_id_of
from careledger.crypto import keccak, sign_typed_data
from tests.contracts.conftest import contract

DAY = 86_400
FEE = 80 * 10**18
HELD, RELEASED, REFUNDED, NO_SHOW, RECLAIMED = 1, 2, 3, 4, 5


@dataclass
class World:
    escrow: Any
    token: Any
    provider: Any  # the node that books and settles
    payee: Any  # who is paid
    patient: LocalAccount


@dataclass(frozen=True)
class Booking:
    """One visit's arguments to `hold`, signed by the patient."""

    reference: bytes
    terms: VisitTerms
    permit: bytes
    signature: bytes

    def args(self) -> tuple[Any, ...]:
        t = self.terms
        return (self.reference, t.patient, t.payee, t.amount, t.starts, t.ends, t.no_show_bps, t.deadline)

    @property
    def visit_id(self) -> bytes:
        return self.terms.visit_id


def _now() -> int:
    return int(boa.env.evm.patch.timestamp)


@pytest.fixture
def world(admin: Any) -> World:
    with boa.env.prank(admin):
        token = contract("CareToken").deploy()
        escrow = contract("VisitEscrow").deploy(token.address)
    patient = Account.create()
    with boa.env.prank(admin):
        token.mint(patient.address, 1_000 * 10**18)
    return World(escrow, token, boa.env.generate_address("hospital node"), boa.env.generate_address("dr bob"), patient)


def _booking(
    world: World,
    name: bytes = b"appointment-1",
    *,
    amount: int = FEE,
    starts_in: int = DAY,
    length: int = 1800,
    no_show_bps: int = 5_000,
    provider: Any = None,
    signer: LocalAccount | None = None,
    permit_signer: LocalAccount | None = None,
    permit_amount: int | None = None,
    altered: dict[str, Any] | None = None,
) -> Booking:
    """The patient's signatures of a visit's terms and its permit; `altered` changes the terms after signing."""
    patient = world.patient
    reference = keccak(name)
    deadline = _now() + 600
    terms = VisitTerms(
        visit_id=visit_id_of(str(provider or world.provider), reference),
        patient=patient.address,
        payee=str(world.payee),
        amount=amount,
        starts=_now() + starts_in,
        ends=_now() + starts_in + length,
        no_show_bps=no_show_bps,
        nonce=world.escrow.nonces(patient.address),
        deadline=deadline,
    )
    chain_id = boa.env.evm.patch.chain_id
    signature = sign_typed_data(signer or patient, terms.typed_data(chain_id, world.escrow.address))
    permit = permit_typed_data(
        owner=patient.address,
        spender=world.escrow.address,
        value=amount if permit_amount is None else permit_amount,
        nonce=world.token.nonces(patient.address),
        deadline=deadline,
        chain_id=chain_id,
        token=world.token.address,
    )
    permit_signature = sign_typed_data(permit_signer or patient, permit)
    if altered:
        terms = replace(terms, **altered)
    return Booking(reference, terms, permit_signature, signature)


def _hold(world: World, booking: Booking, *, caller: Any = None) -> bytes:
    with boa.env.prank(caller or world.provider):
        return bytes(world.escrow.hold(*booking.args(), booking.permit, booking.signature))


def _events(escrow: Any, name: str) -> list[Any]:
    return [e for e in escrow.get_logs() if type(e).__name__ == name]


def _balances(world: World) -> tuple[int, int, int]:
    token = world.token
    return token.balanceOf(world.patient.address), token.balanceOf(world.payee), token.balanceOf(world.escrow.address)


def test_hold_takes_the_fee_under_the_permit_and_signed_terms(world: World) -> None:
    before = world.token.balanceOf(world.patient.address)
    booking = _booking(world)
    visit_id = _hold(world, booking)
    (event,) = _events(world.escrow, "VisitHeld")
    assert visit_id == booking.visit_id == bytes(world.escrow.visit_id_of(world.provider, booking.reference))
    assert (bytes(event.visit_id), event.patient, event.provider, event.payee, event.amount) == (
        visit_id,
        world.patient.address,
        world.provider,
        world.payee,
        FEE,
    )
    visit = world.escrow.visit(visit_id)
    assert (visit.state, visit.amount, visit.provider, visit.no_show_bps) == (HELD, FEE, world.provider, 5_000)
    assert (visit.to_payee, visit.to_patient) == (0, 0)
    assert _balances(world) == (before - FEE, 0, FEE)
    assert world.escrow.nonces(world.patient.address) == 1
    assert world.token.allowance(world.patient.address, world.escrow.address) == 0


def test_release_pays_the_payee_once_the_visit_started(world: World) -> None:
    visit_id = _hold(world, _booking(world, starts_in=3600))
    with boa.env.prank(world.provider), boa.reverts("escrow: the visit has not started"):
        world.escrow.release(visit_id)
    boa.env.time_travel(seconds=3600)
    with boa.env.prank(world.payee), boa.reverts("escrow: caller is not the visit's provider"):
        world.escrow.release(visit_id)
    with boa.env.prank(world.provider):
        world.escrow.release(visit_id)
    (event,) = _events(world.escrow, "VisitReleased")
    assert (bytes(event.visit_id), event.payee, event.amount) == (visit_id, world.payee, FEE)
    assert world.token.balanceOf(world.payee) == FEE
    visit = world.escrow.visit(visit_id)
    assert (visit.state, visit.to_payee, visit.to_patient) == (RELEASED, FEE, 0)
    for settle in (world.escrow.release, world.escrow.refund, world.escrow.no_show):
        with boa.env.prank(world.provider), boa.reverts("escrow: visit already settled"):
            settle(visit_id)


def test_the_providers_cancellation_refunds_in_full(world: World) -> None:
    before = world.token.balanceOf(world.patient.address)
    visit_id = _hold(world, _booking(world))
    with boa.env.prank(world.patient.address), boa.reverts("escrow: caller is not the visit's provider"):
        world.escrow.refund(visit_id)
    with boa.env.prank(world.provider):
        world.escrow.refund(visit_id)
    (event,) = _events(world.escrow, "VisitRefunded")
    assert (event.patient, event.amount, event.by) == (world.patient.address, FEE, world.provider)
    assert _balances(world) == (before, 0, 0)
    assert world.escrow.visit(visit_id).state == REFUNDED


def test_the_patient_cancels_before_the_slot_herself(world: World) -> None:
    before = world.token.balanceOf(world.patient.address)
    visit_id = _hold(world, _booking(world))
    with boa.env.prank(world.payee), boa.reverts("escrow: caller is not the patient"):
        world.escrow.cancel(visit_id)
    with boa.env.prank(world.patient.address):
        world.escrow.cancel(visit_id)
    (event,) = _events(world.escrow, "VisitRefunded")
    assert event.by == world.patient.address
    assert _balances(world) == (before, 0, 0)
    late = _hold(world, _booking(world, b"appointment-2", starts_in=60))
    boa.env.time_travel(seconds=60)
    with boa.env.prank(world.patient.address), boa.reverts("escrow: the visit has started"):
        world.escrow.cancel(late)


def _cancellation(world: World, visit_id: bytes, signer: LocalAccount | None = None) -> tuple[Any, ...]:
    cancellation = VisitCancellation(visit_id=visit_id, deadline=_now() + 600)
    typed = cancellation.typed_data(boa.env.evm.patch.chain_id, world.escrow.address)
    return visit_id, cancellation.deadline, sign_typed_data(signer or world.patient, typed)


def test_a_signed_cancellation_relayed_by_the_node_refunds(world: World) -> None:
    visit_id = _hold(world, _booking(world))
    with boa.env.prank(world.provider), boa.reverts("escrow: cancellation not signed by the patient"):
        world.escrow.cancel_by_signature(*_cancellation(world, visit_id, Account.create()))
    signed = _cancellation(world, visit_id)
    boa.env.time_travel(seconds=601)
    with boa.env.prank(world.provider), boa.reverts("escrow: signature past its deadline"):
        world.escrow.cancel_by_signature(*signed)
    with boa.env.prank(world.provider):
        world.escrow.cancel_by_signature(*_cancellation(world, visit_id))
    assert _events(world.escrow, "VisitRefunded")[0].by == world.patient.address
    with boa.env.prank(world.provider), boa.reverts("escrow: visit already settled"):
        world.escrow.cancel_by_signature(*_cancellation(world, visit_id))


def test_a_no_show_splits_the_fee_by_the_published_share_after_the_slot(world: World) -> None:
    before = world.token.balanceOf(world.patient.address)
    visit_id = _hold(world, _booking(world, amount=1001, no_show_bps=3_333, starts_in=60, length=600))
    boa.env.time_travel(seconds=600)
    with boa.env.prank(world.provider), boa.reverts("escrow: the slot has not ended"):
        world.escrow.no_show(visit_id)
    boa.env.time_travel(seconds=60)
    with boa.env.prank(world.provider):
        world.escrow.no_show(visit_id)
    (event,) = _events(world.escrow, "VisitNoShow")
    assert (event.to_payee, event.to_patient) == (333, 668)  # 333.6333 rounds down: the payee's share
    assert _balances(world) == (before - 333, 333, 0)
    visit = world.escrow.visit(visit_id)
    assert (visit.state, visit.to_payee, visit.to_patient) == (NO_SHOW, 333, 668)


@given(amount=st.integers(1, 2**96 - 1), bps=st.integers(0, 10_000))
def test_a_no_show_split_adds_up_and_rounds_against_the_payee(world: World, amount: int, bps: int) -> None:
    with boa.env.anchor():
        with boa.env.prank(world.token.owner()):
            world.token.mint(world.patient.address, amount)
        visit_id = _hold(world, _booking(world, amount=amount, no_show_bps=bps, starts_in=0, length=1))
        boa.env.time_travel(seconds=1)
        with boa.env.prank(world.provider):
            world.escrow.no_show(visit_id)
        visit = world.escrow.visit(visit_id)
        assert visit.to_payee == amount * bps // 10_000
        assert visit.to_payee + visit.to_patient == amount
        assert world.token.balanceOf(world.escrow.address) == 0


def test_the_patient_reclaims_a_fee_nobody_settled_after_the_grace_period(world: World) -> None:
    before = world.token.balanceOf(world.patient.address)
    visit_id = _hold(world, _booking(world, starts_in=60, length=600))
    boa.env.time_travel(seconds=660 + 30 * DAY - 1)
    with boa.reverts("escrow: the grace period has not passed"):
        world.escrow.reclaim(visit_id)
    boa.env.time_travel(seconds=1)
    with boa.env.prank(boa.env.generate_address("anyone")):
        world.escrow.reclaim(visit_id)
    (event,) = _events(world.escrow, "VisitReclaimed")
    assert (event.patient, event.amount) == (world.patient.address, FEE)
    assert _balances(world) == (before, 0, 0)
    assert world.escrow.visit(visit_id).state == RECLAIMED
    with boa.env.prank(world.provider), boa.reverts("escrow: visit already settled"):
        world.escrow.release(visit_id)


def test_a_visit_id_is_held_once(world: World) -> None:
    visit_id = _hold(world, _booking(world))
    with boa.env.prank(world.provider):
        world.escrow.refund(visit_id)
    with boa.reverts("escrow: visit id already used"):
        _hold(world, _booking(world))
    with boa.reverts("escrow: no such visit"):
        world.escrow.reclaim(keccak(b"never held"))


def test_a_tampered_permit_is_refused(world: World) -> None:
    with boa.reverts("escrow: permit refused"):
        _hold(world, _booking(world, permit_signer=Account.create()))
    with boa.reverts("escrow: permit refused"):
        _hold(world, _booking(world, permit_amount=FEE - 1))
    assert world.escrow.nonces(world.patient.address) == 0


def test_terms_signed_by_someone_else_or_altered_are_refused(world: World) -> None:
    with boa.reverts("escrow: terms not signed by the patient"):
        _hold(world, _booking(world, signer=Account.create()))
    with boa.reverts("escrow: terms not signed by the patient"):
        _hold(world, _booking(world, altered={"payee": world.patient.address}))
    with boa.reverts("escrow: terms not signed by the patient"):
        _hold(world, _booking(world, permit_amount=2 * FEE, altered={"amount": 2 * FEE}))


def test_a_signature_that_recovers_no_one_is_refused(world: World) -> None:
    booking = _booking(world)
    with boa.reverts("escrow: invalid signature"):  # neither 65 nor 64 bytes: snekmate recovers no one
        _hold(world, replace(booking, signature=b""))
    with boa.reverts("ecdsa: invalid signature"):  # 65 bytes no key made
        _hold(world, replace(booking, signature=b"\x00" * 65))
    visit_id = _hold(world, booking)
    with boa.reverts("escrow: invalid signature"):
        world.escrow.cancel_by_signature(visit_id, _now() + 600, b"\x01" * 10)


def test_a_front_runner_gets_nothing_from_her_signatures(world: World) -> None:
    booking = _booking(world)
    thief = boa.env.generate_address("front-runner")
    t = booking.terms
    permit = booking.permit
    with boa.env.prank(thief):  # the permit alone: an allowance of the escrow's, not of the thief's
        world.token.permit(
            t.patient, world.escrow.address, t.amount, t.deadline, permit[64], permit[:32], permit[32:64]
        )
        with boa.reverts("erc20: insufficient allowance"):
            world.token.transferFrom(t.patient, thief, t.amount)
    with boa.reverts("escrow: terms not signed by the patient"):  # both signatures, booked as its own visit
        _hold(world, booking, caller=thief)
    visit_id = _hold(world, booking)  # the node's booking goes through on the allowance the permit left
    assert world.escrow.visit(visit_id).provider == world.provider
    assert world.token.balanceOf(thief) == 0


def test_refusals_at_booking(world: World) -> None:
    for booking, reason in (
        (_booking(world, amount=0), "escrow: nothing to hold"),
        (_booking(world, no_show_bps=10_001), "escrow: no-show share above 100%"),
        (_booking(world, length=0), "escrow: invalid slot"),
        (_booking(world, starts_in=-2 * DAY), "escrow: invalid slot"),
    ):
        with boa.reverts(reason):
            _hold(world, booking)
    late = _booking(world)
    boa.env.time_travel(seconds=601)
    with boa.reverts("escrow: signature past its deadline"):
        _hold(world, late)
