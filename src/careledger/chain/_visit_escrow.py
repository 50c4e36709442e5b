"""Facade of VisitEscrow.vy: a telehealth visit's fee held from booking until the visit is settled.

The patient signs two typed data and pays no gas: CareToken's EIP-2612 permit (`permit_typed_data`
in `_token.py`) and the visit's `VisitTerms` below; the provider's node submits both with `hold`.
Amounts are token base units, times unix seconds, the no-show share basis points.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from careledger.chain._facades import ChainEvent, ContractFacade
from careledger.crypto import Address, Bytes32, Struct, Uint16, Uint64, Uint256
from careledger.errors import NotFound

if TYPE_CHECKING:
    from careledger.chain._backends import Receipt

WHOLE_BPS = 10_000  # the whole fee, in basis points
GRACE_SECONDS = 30 * 86_400  # VisitEscrow.GRACE: after the slot's end, the patient may reclaim an unsettled fee


class VisitState(IntEnum):
    """A visit's state (the constants of modules/visit_escrow.vy); HELD until one movement settles it."""

    HELD = 1
    RELEASED = 2
    REFUNDED = 3
    NO_SHOW = 4
    RECLAIMED = 5

    @property
    def label(self) -> str:
        """The state as people read it: held, released, refunded, no-show, reclaimed."""
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class _Signable(Struct):
    """What a patient signs for VisitEscrow (its EIP-712 domain), for her provider's node to submit."""

    DOMAIN: ClassVar[tuple[str, str]] = ("CareLedger VisitEscrow", "1")


@dataclass(frozen=True, slots=True)
class VisitTerms(_Signable):
    """The terms a patient signs to book a visit: which visit, who is paid how much, the slot, the no-show share."""

    PRIMARY_TYPE: ClassVar[str] = "VisitTerms"
    NOUN: ClassVar[str] = "a visit's terms"

    visit_id: Bytes32
    patient: Address
    payee: Address
    amount: Uint256
    starts: Uint64
    ends: Uint64
    no_show_bps: Uint16
    nonce: Uint256
    deadline: Uint256


@dataclass(frozen=True, slots=True)
class VisitCancellation(_Signable):
    """A patient's cancellation of her visit before its slot, for her provider's node to submit."""

    PRIMARY_TYPE: ClassVar[str] = "VisitCancellation"
    NOUN: ClassVar[str] = "a visit's cancellation"

    visit_id: Bytes32
    deadline: Uint256


@dataclass(frozen=True, slots=True)
class EscrowedVisit:
    """A visit as the chain holds it, and what its settlement paid each party (0 while held)."""

    visit_id: bytes
    patient: str
    provider: str
    payee: str
    amount: int
    starts: int
    ends: int
    no_show_bps: int
    state: VisitState
    to_payee: int
    to_patient: int


def visit_id_of(provider: str, reference: bytes) -> bytes:
    """A visit's id on chain: keccak256(provider ‖ reference), as VisitEscrow.vy computes it from the caller."""
    return keccak(bytes(HexBytes(to_checksum_address(provider))) + reference)


class VisitEscrow(ContractFacade):
    """Visit fees held, released, refunded, split on a no-show, or reclaimed."""

    contract_name = "VisitEscrow"

    def hold(self, reference: bytes, terms: VisitTerms, permit_signature: bytes, terms_signature: bytes) -> Receipt:
        """Book the visit the signer (its provider) named `reference`: take the fee under the patient's permit."""
        return self._transact(
            self._request(
                "hold",
                reference,
                terms.patient,
                terms.payee,
                terms.amount,
                terms.starts,
                terms.ends,
                terms.no_show_bps,
                terms.deadline,
                permit_signature,
                terms_signature,
            )
        )

    def release(self, visit_id: bytes) -> Receipt:
        """Pay the fee to the payee: the visit happened (the provider, once the slot started)."""
        return self._transact(self._request("release", visit_id))

    def refund(self, visit_id: bytes) -> Receipt:
        """Return the whole fee to the patient: the provider cancelled."""
        return self._transact(self._request("refund", visit_id))

    def cancel(self, visit_id: bytes) -> Receipt:
        """The signer, the patient (a custodial identity's wallet the node holds), cancels before the slot
        starts: the whole fee back to her."""
        return self._transact(self._request("cancel", visit_id))

    def cancel_by_signature(self, cancellation: VisitCancellation, signature: bytes) -> Receipt:
        """Submit the patient's signed cancellation (before the slot starts): the whole fee back to her."""
        return self._transact(
            self._request("cancel_by_signature", cancellation.visit_id, cancellation.deadline, signature)
        )

    def no_show(self, visit_id: bytes) -> Receipt:
        """Settle a visit the patient missed: the payee's share (rounded down), the rest back (after the slot)."""
        return self._transact(self._request("no_show", visit_id))

    def reclaim(self, visit_id: bytes) -> Receipt:
        """Return a fee nobody settled to the patient, `GRACE_SECONDS` after the slot's end (anyone may)."""
        return self._transact(self._request("reclaim", visit_id))

    def visit(self, visit_id: bytes) -> EscrowedVisit:
        """A visit's terms, state and payments; `NotFound` if it was never held."""
        patient, provider, payee, amount, starts, ends, bps, state, to_payee, to_patient = self._call("visit", visit_id)
        if state == 0:
            raise NotFound(f"no visit 0x{visit_id.hex()} in the escrow")
        return EscrowedVisit(
            visit_id,
            to_checksum_address(patient),
            to_checksum_address(provider),
            to_checksum_address(payee),
            amount,
            starts,
            ends,
            bps,
            VisitState(state),
            to_payee,
            to_patient,
        )

    def movements(self, visit_id: bytes, *, from_block: int = 0) -> list[ChainEvent]:
        """Every event of a visit (held, then its one settlement), oldest first, from the chain's logs."""
        # Topics as 0x strings: eth-tester matches nothing given bytes.
        logs = self.chain.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [None, HexBytes(visit_id).to_0x_hex()],
            }
        )
        return [event for log in logs if (event := self.decode(log)) is not None]

    def nonce(self, patient: str) -> int:
        """The nonce the patient's next signed `VisitTerms` must carry."""
        return int(self._call("nonces", to_checksum_address(patient)))
