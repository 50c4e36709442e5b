"""VisitPayments on a node's in-process chain: a patient's wallet outside the node signs the permit and the visit's
terms it prepares; the node holds the fee, then releases, refunds, splits a no-show or relays her cancellation, and
refuses in words, before spending gas, what the escrow would refuse."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.config import NODE_WALLET, Settings
from careledger.crypto import keccak, sign_typed_data
from careledger.errors import Conflict, InvalidSignature, NotFound, ValidationError
from careledger.node import Node
from careledger.portal._signing import for_javascript
from careledger.telehealth import NO_SHOW_BPS, Agreed, VisitPayments, visit_key
from careledger.testdata import CARE, scratch_node

FEE = 80 * CARE


@dataclass
class Clinic:
    node: Node
    payments: VisitPayments
    patient: LocalAccount  # her own wallet: the node never holds its key

    def now(self) -> int:
        return self.node.chain.timestamp()

    def travel(self, seconds: int) -> None:
        tester = self.node.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        tester.time_travel(self.now() + seconds)
        tester.mine_blocks(1)  # the latest block, which the service reads the time of, is then past it

    def balance(self, address: str) -> int:
        return self.node.contracts.token().balance_of(address)

    def sent(self) -> int:
        """Transactions the node's wallet has sent: gas it spent."""
        return self.node.chain.transaction_count(self.node.address)

    def signed(self, appointment: str, *, starts_in: int = 3600, length: int = 1800, amount: int = FEE) -> Signed:
        """What the portal sends her wallet and gets back: the typed data as JavaScript reads it, and both
        signatures."""
        start = self.now() + starts_in
        prepared = for_javascript(
            self.payments.prepare(self.patient.address, appointment, amount, start, start + length)
        )
        return Signed(
            appointment,
            prepared["terms"],
            sign_typed_data(self.patient, prepared["permit"]),
            sign_typed_data(self.patient, prepared["terms"]),
            Agreed(amount, start, start + length),
        )

    def hold(self, signed: Signed) -> Any:
        return self.payments.hold(
            self.patient.address, signed.appointment, signed.terms, signed.permit, signed.sig, agreed=signed.agreed
        )


@dataclass
class Signed:
    appointment: str
    terms: dict[str, Any]
    permit: bytes
    sig: bytes
    agreed: Agreed  # what the node knows the visit costs and when it is: the terms must say the same


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    home = tmp_path_factory.mktemp("payments") / "home"
    with scratch_node(home, Settings(chain="memory", light_kdf=True)) as node:
        patient: LocalAccount = Account.create()
        node.contracts.token(as_wallet=NODE_WALLET).mint(patient.address, 1_000 * CARE)
        yield Clinic(node, node.visit_payments, patient)


def test_the_visit_key_is_the_escrows_id_and_keeps_the_appointment_off_chain(clinic: Clinic) -> None:
    key = visit_key(clinic.node.address, "appt-1")
    escrow = clinic.node.contracts.visit_escrow()
    assert len(key) == 32
    assert key == clinic.payments.visit_key(clinic.node.address, "appt-1")
    assert key != visit_key(clinic.node.address, "appt-2") != visit_key(clinic.patient.address, "appt-1")
    assert key == bytes(escrow.contract.functions.visit_id_of(clinic.node.address, keccak(b"appt-1")).call())
    with pytest.raises(ValidationError, match="names its Appointment id"):
        visit_key(clinic.node.address, "")


def test_prepare_gives_her_wallet_the_permit_and_terms_to_sign(clinic: Clinic) -> None:
    start = clinic.now() + 3600
    prepared = clinic.payments.prepare(clinic.patient.address, "appt-prepare", FEE, start, start + 1800)
    permit, terms = prepared["permit"], prepared["terms"]
    escrow = clinic.node.contracts.visit_escrow().address
    assert permit["primaryType"] == "Permit"
    assert (permit["message"]["spender"], permit["message"]["value"]) == (escrow, FEE)
    assert terms["primaryType"] == "VisitTerms"
    assert terms["domain"]["verifyingContract"] == escrow
    message = terms["message"]
    assert message["visitId"] == "0x" + visit_key(clinic.node.address, "appt-prepare").hex()
    assert (message["payee"], message["amount"], message["noShowBps"]) == (clinic.node.address, FEE, NO_SHOW_BPS)
    assert permit["message"]["deadline"] == message["deadline"]
    javascript = for_javascript(prepared)
    assert javascript["terms"]["message"]["amount"] == str(FEE)  # past 2**53: a string JavaScript keeps exact


def test_a_visit_is_held_without_gas_for_her_then_released_to_the_payee(clinic: Clinic) -> None:
    before = clinic.balance(clinic.patient.address)
    payee_before = clinic.balance(clinic.node.address)
    paid = clinic.hold(clinic.signed("appt-release", starts_in=60))
    assert (paid.state, paid.amount, paid.patient, paid.payee) == (
        "held",
        FEE,
        clinic.patient.address,
        clinic.node.address,
    )
    assert paid.gas_used is not None
    assert paid.gas_used > 21_000
    assert clinic.balance(clinic.patient.address) == before - FEE
    assert clinic.node.chain.transaction_count(clinic.patient.address) == 0  # she sent nothing, paid no gas
    with pytest.raises(Conflict, match="the visit has not started"):
        clinic.payments.release("appt-release")
    clinic.travel(60)
    released = clinic.payments.release("appt-release")
    assert (released.state, released.to_payee, released.to_patient) == ("released", FEE, 0)
    assert clinic.balance(clinic.node.address) == payee_before + FEE
    assert clinic.payments.state("appt-release") == replace(released, gas_used=None)
    with pytest.raises(Conflict, match="already settled: released"):
        clinic.payments.refund("appt-release")


def test_the_providers_cancellation_refunds_her_in_full(clinic: Clinic) -> None:
    before = clinic.balance(clinic.patient.address)
    clinic.hold(clinic.signed("appt-refund"))
    refunded = clinic.payments.refund("appt-refund")
    assert (refunded.state, refunded.to_patient) == ("refunded", FEE)
    assert clinic.balance(clinic.patient.address) == before


def test_her_signed_cancellation_is_relayed_before_the_slot(clinic: Clinic) -> None:
    before = clinic.balance(clinic.patient.address)
    clinic.hold(clinic.signed("appt-cancel"))
    typed = for_javascript(clinic.payments.prepare_cancellation("appt-cancel"))
    stranger = Account.create()
    with pytest.raises(InvalidSignature, match=f"not by {clinic.patient.address}"):
        clinic.payments.cancel("appt-cancel", typed, sign_typed_data(stranger, typed))
    cancelled = clinic.payments.cancel("appt-cancel", typed, sign_typed_data(clinic.patient, typed))
    assert (cancelled.state, cancelled.to_patient) == ("refunded", FEE)
    assert [(m.kind, m.to_patient, m.by) for m in clinic.payments.movements("appt-cancel")] == [
        ("held", 0, clinic.node.address),
        ("refunded", FEE, clinic.patient.address),  # she cancelled
    ]
    assert clinic.payments.movements("appt-never-booked") == []
    assert clinic.balance(clinic.patient.address) == before
    clinic.hold(clinic.signed("appt-late-cancel", starts_in=30))
    other = for_javascript(clinic.payments.prepare_cancellation("appt-late-cancel"))
    with pytest.raises(ValidationError, match="another visit"):
        clinic.payments.cancel("appt-late-cancel", typed, sign_typed_data(clinic.patient, typed))
    clinic.travel(30)
    with pytest.raises(Conflict, match="the visit has started"):
        clinic.payments.cancel("appt-late-cancel", other, sign_typed_data(clinic.patient, other))


def test_a_no_show_keeps_the_published_share_after_the_slot(clinic: Clinic) -> None:
    before = clinic.balance(clinic.patient.address)
    clinic.hold(clinic.signed("appt-no-show", starts_in=10, length=20, amount=1001))
    with pytest.raises(Conflict, match="the slot has not ended"):
        clinic.payments.no_show("appt-no-show")
    clinic.travel(30)
    split = clinic.payments.no_show("appt-no-show")
    assert (split.state, split.to_payee, split.to_patient) == ("no-show", 500, 501)  # half, rounded down
    assert clinic.balance(clinic.patient.address) == before - 500
    held, missed = clinic.payments.movements("appt-no-show")
    assert (held.kind, held.amount, held.by) == ("held", 1001, clinic.node.address)
    assert (missed.kind, missed.amount, missed.to_payee, missed.to_patient) == ("no-show", 1001, 500, 501)
    assert missed.block > held.block


def test_refused_in_words_before_any_gas_is_spent(clinic: Clinic) -> None:
    signed = clinic.signed("appt-refusals")
    sent = clinic.sent()
    stranger = Account.create()
    with pytest.raises(InvalidSignature, match=f"not by {clinic.patient.address}"):
        clinic.payments.hold(
            clinic.patient.address,
            signed.appointment,
            signed.terms,
            signed.permit,
            sign_typed_data(stranger, signed.terms),
            agreed=signed.agreed,
        )
    with pytest.raises(InvalidSignature, match="permit was not signed by the patient"):
        clinic.payments.hold(
            clinic.patient.address, signed.appointment, signed.terms, signed.sig, signed.sig, agreed=signed.agreed
        )
    altered = {**signed.terms, "message": {**signed.terms["message"], "amount": str(FEE - 1)}}
    with pytest.raises(ValidationError, match="amount"):  # not the fee agreed, signed or not
        clinic.payments.hold(
            clinic.patient.address, signed.appointment, altered, signed.permit, signed.sig, agreed=signed.agreed
        )
    with pytest.raises(ValidationError, match="not for Appointment/appt-other"):
        clinic.payments.hold(
            clinic.patient.address, "appt-other", signed.terms, signed.permit, signed.sig, agreed=signed.agreed
        )
    with pytest.raises(ValidationError, match="to pay, not"):
        clinic.payments.hold(
            stranger.address, signed.appointment, signed.terms, signed.permit, signed.sig, agreed=signed.agreed
        )
    elsewhere = {**signed.terms, "domain": {**signed.terms["domain"], "chainId": 1}}
    with pytest.raises(ValidationError, match="another escrow"):
        clinic.payments.hold(
            clinic.patient.address, signed.appointment, elsewhere, signed.permit, signed.sig, agreed=signed.agreed
        )
    with pytest.raises(ValidationError, match="not a visit's terms for CareLedger VisitEscrow"):
        clinic.payments.hold(
            clinic.patient.address, signed.appointment, {"message": {}}, signed.permit, signed.sig, agreed=signed.agreed
        )
    with pytest.raises(Conflict, match="less than the fee"):
        clinic.signed("appt-too-dear", amount=10**6 * CARE)
    with pytest.raises(ValidationError, match="more than 0"):
        clinic.signed("appt-free", amount=0)
    assert clinic.sent() == sent
    clinic.hold(signed)
    with pytest.raises(Conflict, match="already in escrow"):
        clinic.hold(signed)
    with pytest.raises(NotFound, match="no payment for Appointment/appt-never"):
        clinic.payments.state("appt-never")


def test_terms_she_changed_and_signed_herself_are_refused_field_by_field(clinic: Clinic) -> None:
    """Her wallet signs whatever she sends back, so a signature proves nothing of the terms: each field the node
    prepared (payee, slot, fee, no-show share, visit, patient) must come back as it was, re-signed or not."""
    signed = clinic.signed("appt-resigned")
    sent, balance = clinic.sent(), clinic.balance(clinic.patient.address)
    later = str(clinic.now() + 10 * 365 * 86_400)
    changes = {
        "payee": (clinic.patient.address, "payee"),  # her own fee paid back to her on `finish`
        "starts": (later, "starts"),  # a slot never begun: the provider can never release it
        "ends": (str(int(signed.terms["message"]["ends"]) + 3600), "ends"),
        "amount": (str(FEE - 1), "amount"),
        "noShowBps": (0, "no-show share"),
        "visitId": ("0x" + visit_key(clinic.node.address, "appt-other").hex(), "not for Appointment/appt-resigned"),
        "patient": (Account.create().address, "to pay, not"),
    }
    for field, (value, refusal) in changes.items():
        altered = {**signed.terms, "message": {**signed.terms["message"], field: value}}
        resigned = replace(signed, terms=altered, sig=sign_typed_data(clinic.patient, altered))
        with pytest.raises(ValidationError, match=refusal):
            clinic.hold(resigned)
    assert (clinic.sent(), clinic.balance(clinic.patient.address)) == (sent, balance)  # no gas, nothing held
    assert clinic.hold(signed).payee == clinic.node.address


def test_signatures_expire_and_a_used_nonce_asks_to_sign_again(clinic: Clinic) -> None:
    first, second = clinic.signed("appt-first"), clinic.signed("appt-second")
    clinic.hold(first)
    with pytest.raises(Conflict, match="sign the visit's payment again"):
        clinic.hold(second)  # signed with the nonce the first booking used
    late = clinic.signed("appt-late")
    clinic.travel(901)
    with pytest.raises(Conflict, match="expired"):
        clinic.hold(late)


def test_another_nodes_visit_is_not_settled_here(clinic: Clinic) -> None:
    other = VisitPayments(
        clinic.node.contracts.visit_escrow,
        clinic.node.contracts.token,
        node_wallet="elsewhere",
        address=Account.create().address,
    )
    clinic.hold(clinic.signed("appt-mine"))
    with pytest.raises(NotFound, match="no payment for Appointment/appt-mine"):
        other.refund("appt-mine")  # the visit's key names the node that booked it: no other can settle it
    assert clinic.payments.state("appt-mine").state == "held"
    with pytest.raises(ValidationError, match="no-show share"):
        VisitPayments(other._escrow, other._token, node_wallet="x", address=other.address, no_show_bps=10_001)


def test_a_fee_never_settled_goes_back_to_her_after_the_grace_period(clinic: Clinic) -> None:
    before = clinic.balance(clinic.patient.address)
    clinic.hold(clinic.signed("appt-forgotten", starts_in=10, length=20))
    clinic.travel(30 + 29 * 86_400)
    with pytest.raises(Conflict, match="30 days after the slot's end"):
        clinic.payments.reclaim("appt-forgotten")
    clinic.travel(86_400)
    reclaimed = clinic.payments.reclaim("appt-forgotten")
    assert (reclaimed.state, reclaimed.to_patient) == ("reclaimed", FEE)
    assert clinic.balance(clinic.patient.address) == before
