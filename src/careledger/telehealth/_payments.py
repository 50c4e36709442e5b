"""A telehealth visit's fee in CARE escrow: booked under the patient's two signatures, settled by this node.

```
prepare ─► {permit, terms}: typed data her wallet signs (no gas for her)
hold    ─► checked here first (terms, signer, permit, nonce, deadline, funds): refused in words, no gas spent
        ─► VisitEscrow.hold, sent by the node (the visit's provider)
release | refund | no_show (this node) · cancel (hers, signed, relayed) · reclaim (hers, after the grace period)
        ─► one movement, then state
```

A visit is known on chain by `visit_key(node, appointment id)`; no appointment id goes on chain, only its
hash. Typed data comes back as faces send it: integers past 2**53 as decimal strings (`for_javascript`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from careledger.chain import (
    GRACE_SECONDS,
    WHOLE_BPS,
    CareToken,
    ChainEvent,
    EscrowedVisit,
    VisitCancellation,
    VisitEscrow,
    VisitState,
    VisitTerms,
    visit_id_of,
)
from careledger.crypto import check_signer, keccak, recover_typed_data_signer
from careledger.errors import Conflict, InvalidSignature, NotFound, ValidationError

NO_SHOW_BPS = 5_000  # the payee's share of a missed visit's fee, published in the terms she signs
SIGN_WITHIN = 900  # seconds her signatures stay good for after `prepare`


def visit_key(node_address: str, appointment_id: str) -> bytes:
    """The id on chain of the visit booked at `node_address` as Appointment `appointment_id`:
    keccak256(node ‖ keccak256(appointment id)), the appointment id kept off chain."""
    return visit_id_of(node_address, _reference(appointment_id))


def _reference(appointment_id: str) -> bytes:
    if not appointment_id:
        raise ValidationError("a visit's payment names its Appointment id")
    return keccak(appointment_id.encode())


@dataclass(frozen=True, slots=True)
class VisitPayment:
    """A visit's fee as the escrow holds it: who pays whom, the slot, its state, what each was paid."""

    appointment_id: str
    visit_id: str  # 0x and 64 hex digits
    patient: str
    payee: str
    amount: int
    starts: int
    ends: int
    no_show_bps: int
    state: str  # held, released, refunded, no-show, reclaimed
    to_payee: int
    to_patient: int
    gas_used: int | None = None  # of the transaction that made this state, when this call sent one

    @classmethod
    def of(cls, appointment_id: str, visit: EscrowedVisit, gas_used: int | None = None) -> VisitPayment:
        """A payment from the escrow's view of the visit."""
        v = visit
        return cls(
            appointment_id,
            "0x" + v.visit_id.hex(),
            v.patient,
            v.payee,
            v.amount,
            v.starts,
            v.ends,
            v.no_show_bps,
            v.state.label,
            v.to_payee,
            v.to_patient,
            gas_used,
        )


@dataclass(frozen=True, slots=True)
class Agreed:
    """What a visit's fee is held for, as the node knows it (not as the terms she sends back say): the amount
    its quote says she pays, and its slot's start and end (unix seconds). Her signed terms must say the same."""

    amount: int
    starts: int
    ends: int


@dataclass(frozen=True, slots=True)
class VisitMovement:
    """One event of a visit's fee, as a claims page lists it: held, then released, refunded, no-show or
    reclaimed, with what went to whom (`by`: who cancelled a refund, the provider who held it)."""

    kind: str
    amount: int
    to_payee: int
    to_patient: int
    by: str | None
    block: int
    tx_hash: str

    @classmethod
    def of(cls, event: ChainEvent) -> VisitMovement:
        """A movement from its VisitEscrow event."""
        args = event.args
        amount = int(args.get("amount", args.get("to_payee", 0) + args.get("to_patient", 0)))
        kind, to_payee, to_patient, by = {
            "VisitHeld": ("held", 0, 0, args.get("provider")),
            "VisitReleased": ("released", amount, 0, None),
            "VisitRefunded": ("refunded", 0, amount, args.get("by")),
            "VisitNoShow": ("no-show", args.get("to_payee", 0), args.get("to_patient", 0), None),
            "VisitReclaimed": ("reclaimed", 0, amount, None),
        }[event.name]
        return cls(kind, amount, int(to_payee), int(to_patient), by, event.block, event.tx_hash)


class VisitPayments:
    """Visit fees held in VisitEscrow, booked and settled as this node (the provider) signing as `node_wallet`."""

    visit_key = staticmethod(visit_key)

    def __init__(
        self,
        escrow: Callable[..., VisitEscrow],
        token: Callable[..., CareToken],
        *,
        node_wallet: str,
        address: str,
        no_show_bps: int = NO_SHOW_BPS,
    ) -> None:
        """`escrow(as_wallet=None)` and `token(as_wallet=None)`: the facades; `address`: the node wallet's."""
        if not 0 <= no_show_bps <= WHOLE_BPS:
            raise ValidationError(f"a no-show share is 0 to {WHOLE_BPS} basis points, not {no_show_bps}")
        self._escrow = escrow
        self._token = token
        self._node_wallet = node_wallet
        self.address = address
        self.no_show_bps = no_show_bps

    def prepare(
        self, patient: str, appointment_id: str, amount: int, starts: int, ends: int, *, payee: str | None = None
    ) -> dict[str, Any]:
        """The two typed data the patient's wallet signs to pay for a visit: `permit` (CareToken's EIP-2612, to
        the escrow) and `terms` (the visit, payee, amount, slot, no-show share). `payee` defaults to this node.
        Refused in words now, rather than at `hold`: a visit already paid, a slot over, funds she lacks."""
        escrow = self._escrow()
        visit_id = self.visit_key(self.address, appointment_id)
        deadline = escrow.chain.timestamp() + SIGN_WITHIN
        terms = VisitTerms(
            visit_id,
            patient,
            payee or self.address,
            amount,
            starts,
            ends,
            self.no_show_bps,
            escrow.nonce(patient),
            deadline,
        )
        self._check_bookable(escrow, terms)
        permit = self._token().permit_typed_data(owner=patient, spender=escrow.address, value=amount, deadline=deadline)
        return {"permit": permit, "terms": terms.typed_data(*_domain(escrow))}

    def hold(
        self,
        patient: str,
        appointment_id: str,
        terms: dict[str, Any],
        permit_signature: bytes,
        terms_signature: bytes,
        *,
        agreed: Agreed,
    ) -> VisitPayment:
        """Book the visit's fee with what `prepare` gave the patient to sign (`terms`, its typed data) and her
        two signatures, once `check` finds nothing the escrow would refuse (so no gas is spent on a booking that
        cannot go through)."""
        escrow = self._escrow()
        signed = self.check(patient, appointment_id, terms, permit_signature, terms_signature, agreed=agreed)
        receipt = self._escrow(as_wallet=self._node_wallet).hold(
            _reference(appointment_id), signed, permit_signature, terms_signature
        )
        return VisitPayment.of(appointment_id, escrow.visit(signed.visit_id), receipt.gas_used)

    def check(
        self,
        patient: str,
        appointment_id: str,
        terms: dict[str, Any],
        permit_signature: bytes,
        terms_signature: bytes,
        *,
        agreed: Agreed,
    ) -> VisitTerms:
        """The terms `hold` would send, checked off chain for everything the escrow would refuse, in words: terms
        other than this node's for this visit, this patient and what was `agreed` (`ValidationError`: she signs
        what she sends, so a payee or slot of her choosing would be hers to sign too), terms or a permit (its
        signer, spender, value, deadline and her token nonce) she did not sign (`InvalidSignature`), signatures
        expired or used (`Conflict`). A booking calls it before it changes anything, so a refusal undoes nothing."""
        escrow = self._escrow()
        signed = self._signed_terms(escrow, patient, appointment_id, terms, agreed)
        self._check_bookable(escrow, signed)
        if signed.nonce != escrow.nonce(patient):
            raise Conflict("these terms were signed for an earlier booking of hers: sign the visit's payment again")
        check_signer(signed.patient, recover_typed_data_signer(signed.typed_data(*_domain(escrow)), terms_signature))
        self._check_permit(escrow, signed, permit_signature)
        return signed

    def release(self, appointment_id: str) -> VisitPayment:
        """Pay the fee to the payee: the visit happened (from the slot's start). `Conflict` before it, or once
        the fee was settled; `NotFound` for a visit never paid for."""
        visit = self._held(appointment_id)
        if self._now() < visit.starts:
            raise Conflict("the visit has not started: its fee is released once it has")
        return self._settle(appointment_id, VisitEscrow.release)

    def refund(self, appointment_id: str) -> VisitPayment:
        """Return the whole fee to the patient: this node (the provider) cancelled the visit."""
        self._held(appointment_id)
        return self._settle(appointment_id, VisitEscrow.refund)

    def no_show(self, appointment_id: str) -> VisitPayment:
        """The patient missed the visit: the payee keeps the share the terms published, she gets the rest back.
        `Conflict` before the slot's end."""
        visit = self._held(appointment_id)
        if self._now() < visit.ends:
            raise Conflict("the slot has not ended: a no-show is recorded after it")
        return self._settle(appointment_id, VisitEscrow.no_show)

    def reclaim(self, appointment_id: str) -> VisitPayment:
        """Return a fee this node never settled to the patient, from `GRACE_SECONDS` after the slot's end (the
        node sends it for her; the escrow pays her alone). `Conflict` before then."""
        visit = self._held(appointment_id)
        if self._now() < visit.ends + GRACE_SECONDS:
            raise Conflict(f"the fee is returned unsettled {GRACE_SECONDS // 86_400} days after the slot's end")
        return self._settle(appointment_id, VisitEscrow.reclaim)

    def prepare_cancellation(self, appointment_id: str) -> dict[str, Any]:
        """The typed data the patient signs to cancel her visit before its slot (this node relays it)."""
        visit = self._held(appointment_id)
        self._check_before_start(visit)
        escrow = self._escrow()
        cancellation = VisitCancellation(visit.visit_id, escrow.chain.timestamp() + SIGN_WITHIN)
        return cancellation.typed_data(*_domain(escrow))

    def cancel(self, appointment_id: str, cancellation: dict[str, Any], signature: bytes) -> VisitPayment:
        """Relay the patient's signed cancellation (`prepare_cancellation`): the whole fee back to her. Refused
        in words: another visit's cancellation, one she did not sign, one expired, a slot already started."""
        visit = self._held(appointment_id)
        escrow = self._escrow()
        signed = _parsed(VisitCancellation, escrow, cancellation)
        if signed.visit_id != visit.visit_id:
            raise ValidationError("this cancellation is of another visit")
        if signed.deadline < self._now():
            raise Conflict("the cancellation's signature has expired: sign it again")
        self._check_before_start(visit)
        check_signer(visit.patient, recover_typed_data_signer(signed.typed_data(*_domain(escrow)), signature))
        receipt = self._escrow(as_wallet=self._node_wallet).cancel_by_signature(signed, signature)
        return VisitPayment.of(appointment_id, escrow.visit(visit.visit_id), receipt.gas_used)

    def state(self, appointment_id: str) -> VisitPayment:
        """The visit's fee as the escrow holds it; `NotFound` if it was never paid for."""
        return VisitPayment.of(appointment_id, self._visit(appointment_id))

    def movements(self, appointment_id: str) -> list[VisitMovement]:
        """Every movement of the visit's fee, oldest first (none if it was never paid for)."""
        visit_id = self.visit_key(self.address, appointment_id)
        return [VisitMovement.of(event) for event in self._escrow().movements(visit_id)]

    def _visit(self, appointment_id: str) -> EscrowedVisit:
        try:
            return self._escrow().visit(self.visit_key(self.address, appointment_id))
        except NotFound:
            raise NotFound(f"no payment for Appointment/{appointment_id} is held in escrow") from None

    def _held(self, appointment_id: str) -> EscrowedVisit:
        """The visit, if its fee is still held (its key names this node: only this node settles it)."""
        visit = self._visit(appointment_id)
        if visit.state is not VisitState.HELD:
            raise Conflict(f"Appointment/{appointment_id}'s fee was already settled: {visit.state.label}")
        return visit

    def _settle(self, appointment_id: str, movement: Callable[[VisitEscrow, bytes], Any]) -> VisitPayment:
        visit_id = self.visit_key(self.address, appointment_id)
        receipt = movement(self._escrow(as_wallet=self._node_wallet), visit_id)
        return VisitPayment.of(appointment_id, self._escrow().visit(visit_id), receipt.gas_used)

    def _now(self) -> int:
        """The chain's time, which the escrow compares the slot against."""
        return self._escrow().chain.timestamp()

    def _check_before_start(self, visit: EscrowedVisit) -> None:
        if self._now() >= visit.starts:
            raise Conflict("the visit has started: only its provider can refund it now")

    def _signed_terms(
        self, escrow: VisitEscrow, patient: str, appointment_id: str, terms: dict[str, Any], agreed: Agreed
    ) -> VisitTerms:
        """The terms she signed, checked field by field to be the ones `prepare` gave her for this appointment,
        this patient and what was `agreed` (all but the nonce and deadline, which `hold` checks against the
        chain): this node paid, the slot's times, the fee, the published no-show share."""
        signed = _parsed(VisitTerms, escrow, terms)
        if signed.visit_id != self.visit_key(self.address, appointment_id):
            raise ValidationError(f"these terms are not for Appointment/{appointment_id} at this node")
        if signed.patient.lower() != patient.lower():
            raise ValidationError(f"these terms are {signed.patient}'s to pay, not {patient}'s")
        if signed.no_show_bps != self.no_show_bps:
            raise ValidationError(f"the no-show share is {self.no_show_bps} basis points, not {signed.no_show_bps}")
        expected = {
            "payee": self.address.lower(),
            "amount": agreed.amount,
            "starts": agreed.starts,
            "ends": agreed.ends,
        }
        for name, wanted in expected.items():
            got = getattr(signed, name)
            if (got.lower() if isinstance(got, str) else got) != wanted:
                raise ValidationError(f"the signed terms' {name} is {got}, not {wanted}: sign the terms prepared")
        return signed

    def _check_bookable(self, escrow: VisitEscrow, terms: VisitTerms) -> None:
        """What the escrow would refuse of these terms, in words."""
        now = escrow.chain.timestamp()
        if terms.amount <= 0:
            raise ValidationError("a visit's fee held in escrow is more than 0")
        if not now < terms.ends or terms.starts >= terms.ends:
            raise ValidationError("the visit's slot is over or empty: nothing can be held for it")
        if terms.deadline < now:
            raise Conflict("the signatures have expired: sign the visit's payment again")
        try:
            held = escrow.visit(terms.visit_id)
        except NotFound:
            held = None
        if held is not None:
            raise Conflict(f"this visit's fee is already in escrow ({held.state.label})")
        balance = self._token().balance_of(terms.patient)
        if balance < terms.amount:
            raise Conflict(f"the patient holds {balance} base units of CARE, less than the fee of {terms.amount}")

    def _check_permit(self, escrow: VisitEscrow, terms: VisitTerms, signature: bytes) -> None:
        """Her permit lets the escrow take the fee: signed by her with her current token nonce, or already
        submitted (by anyone) so the allowance is there."""
        token = self._token()
        permit = token.permit_typed_data(
            owner=terms.patient, spender=escrow.address, value=terms.amount, deadline=terms.deadline
        )
        if recover_typed_data_signer(permit, signature) == terms.patient:
            return
        if token.allowance(terms.patient, escrow.address) >= terms.amount:
            return
        raise InvalidSignature("the permit was not signed by the patient for this fee and this escrow")


_Signed = TypeVar("_Signed", VisitTerms, VisitCancellation)


def _parsed(kind: type[_Signed], escrow: VisitEscrow, typed: Any) -> _Signed:
    """Typed data for `kind` that came back from a wallet, checked to be for this chain's escrow."""
    chain_id, contract = kind.domain_of(typed)
    if (chain_id, contract) != _domain(escrow):
        raise ValidationError(f"{kind.NOUN} signed for another escrow (chain {chain_id}, {contract})")
    return kind.from_typed_data(typed)


def _domain(escrow: VisitEscrow) -> tuple[int, str]:
    """The chain id and contract the patient's typed data name."""
    return escrow.chain.chain_id, escrow.address
