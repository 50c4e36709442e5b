"""Facade of Claims.vy: plans, network, enrolment, prior authorization, claims, payment.

The chain layer speaks the contract's integers (service classes 0..15, statuses, X12
reason codes, token base units); `careledger.claims` gives them names and FHIR form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from hexbytes import HexBytes

from careledger.chain._facades import ChainEvent, ContractFacade
from careledger.chain._signer import TxRequest
from careledger.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from careledger.chain._backends import Receipt

SERVICE_CLASSES = 16


class ClaimStatus(IntEnum):
    """A claim's status (the constants of Claims.vy); PENDED, AWAITING_FUNDS and APPEALED are open."""

    PAID = 1
    PENDED = 2
    AWAITING_FUNDS = 3
    DENIED = 4
    APPEALED = 5

    @property
    def label(self) -> str:
        """The status as people read it: paid, pended, awaiting funds, denied, appealed."""
        return self.name.lower().replace("_", "-")


class PreauthStatus(IntEnum):
    REQUESTED = 1
    APPROVED = 2
    DENIED = 3
    USED = 4


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """What an insurer writes into a plan. Amounts are in the token's base units."""

    token: str
    allowed: tuple[int, ...]  # one allowed amount per service class (0: not covered)
    deductible: int
    coinsurance_bps: int
    oop_max: int
    coverage_start: int
    coverage_end: int
    preauth_classes: int  # bitmask of service classes
    review_threshold: int  # 0: nothing is reviewed

    def __post_init__(self) -> None:
        if len(self.allowed) != SERVICE_CLASSES:
            raise ValidationError(f"a fee schedule has {SERVICE_CLASSES} allowed amounts, not {len(self.allowed)}")


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: int
    insurer: str
    terms: PlanTerms
    escrow: int
    open_claims: int


@dataclass(frozen=True, slots=True)
class Enrolment:
    member: str
    plan_id: int
    start: int
    end: int
    deductible_met: int
    out_of_pocket: int


@dataclass(frozen=True, slots=True)
class ClaimState:
    """A claim as the chain holds it."""

    claim_id: bytes
    provider: str
    member: str
    plan_id: int
    service_class: int
    status: ClaimStatus
    reason: int
    appealed: bool
    patient_paid: bool
    billed: int
    payer_share: int
    patient_share: int
    service_date: int


@dataclass(frozen=True, slots=True)
class Adjudication:
    """One decision on a claim (a `ClaimAdjudicated` event)."""

    claim_id: bytes
    plan_id: int
    status: ClaimStatus
    reason: int
    allowed: int
    deductible: int
    coinsurance: int
    payer_share: int
    patient_share: int
    block: int
    tx_hash: str
    gas_used: int | None = None

    @classmethod
    def of(cls, event: ChainEvent, gas_used: int | None = None) -> Adjudication:
        """A decision from its `ClaimAdjudicated` event (and the gas its transaction used)."""
        args = event.args
        return cls(
            claim_id=bytes(args["claim_id"]),
            plan_id=int(args["plan_id"]),
            status=ClaimStatus(args["status"]),
            reason=int(args["reason"]),
            allowed=int(args["allowed"]),
            deductible=int(args["deductible"]),
            coinsurance=int(args["coinsurance"]),
            payer_share=int(args["payer_share"]),
            patient_share=int(args["patient_share"]),
            block=event.block,
            tx_hash=event.tx_hash,
            gas_used=gas_used,
        )


@dataclass(frozen=True, slots=True)
class Preauth:
    preauth_id: int
    provider: str
    member: str
    plan_id: int
    service_class: int
    status: PreauthStatus
    reason: int
    valid_until: int


def claim_id_of(provider: str, commitment: bytes) -> bytes:
    """A claim's id on chain: keccak256(provider ‖ commitment), as Claims.vy computes it."""
    return keccak(bytes(HexBytes(to_checksum_address(provider))) + commitment)


class Claims(ContractFacade):
    """Plans, enrolment, prior authorization and claims on chain."""

    contract_name = "Claims"

    def paused(self) -> bool:
        """Whether the contract is stopped in an emergency (only its admin, the council after bootstrap, pauses)."""
        return bool(self._call("paused"))

    def create_plan(self, terms: PlanTerms) -> int:
        """Register a plan as the signer (an insurer); its id."""
        receipt = self._transact(
            self._request(
                "create_plan",
                to_checksum_address(terms.token),
                list(terms.allowed),
                terms.deductible,
                terms.coinsurance_bps,
                terms.oop_max,
                terms.coverage_start,
                terms.coverage_end,
                terms.preauth_classes,
                terms.review_threshold,
            )
        )
        (event,) = self.events_in(receipt, "PlanCreated")
        return int(event.args["plan_id"])

    def set_plan_terms(self, plan_id: int, allowed: Sequence[int], preauth_classes: int, review_threshold: int) -> None:
        """Replace a plan's fee schedule, prior-authorization classes and review threshold (its insurer)."""
        self._transact(self._request("set_plan_terms", plan_id, list(allowed), preauth_classes, review_threshold))

    def fund(self, plan_id: int, amount: int) -> int:
        """Move `amount` from the signer into the plan's escrow; the escrow after."""
        (event,) = self.events_in(self._transact(self._request("fund", plan_id, amount)), "EscrowFunded")
        return int(event.args["escrow"])

    def withdraw(self, plan_id: int, amount: int, recipient: str) -> None:
        """Return unspent escrow to `recipient` once no claim can still arrive (its insurer)."""
        self._transact(self._request("withdraw", plan_id, amount, to_checksum_address(recipient)))

    def set_network(self, plan_id: int, provider: str, in_network: bool) -> None:
        """Admit a registered provider to the plan's network, or remove it (its insurer)."""
        self._transact(self._request("set_network", plan_id, to_checksum_address(provider), in_network))

    def enroll(self, member: str, plan_id: int, start: int, end: int) -> None:
        """Enrol a registered patient in a plan for [start, end] (its insurer)."""
        self._transact(self._request("enroll", to_checksum_address(member), plan_id, start, end))

    def request_preauth(self, member: str, service_class: int, request_hash: bytes) -> int:
        """Ask the member's plan to authorize a service (a network provider); the request's id."""
        receipt = self._transact(
            self._request("request_preauth", to_checksum_address(member), service_class, request_hash)
        )
        (event,) = self.events_in(receipt, "PreauthRequested")
        return int(event.args["preauth_id"])

    def decide_preauth(self, preauth_id: int, approved: bool, reason: int, valid_until: int) -> None:
        """Approve a request until `valid_until`, or deny it with a reason code (the plan's insurer)."""
        self._transact(self._request("decide_preauth", preauth_id, approved, reason, valid_until))

    def submit_claim_request(
        self, member: str, service_class: int, billed: int, service_date: int, commitment: bytes, preauth_id: int = 0
    ) -> TxRequest:
        """The transaction that submits a claim, for callers that pipeline many."""
        return self._request(
            "submit_claim",
            to_checksum_address(member),
            service_class,
            billed,
            service_date,
            commitment,
            preauth_id,
        )

    def submit_claim(
        self, member: str, service_class: int, billed: int, service_date: int, commitment: bytes, preauth_id: int = 0
    ) -> Adjudication:
        """Submit a claim as the signer (a network provider); how it was adjudicated."""
        request = self.submit_claim_request(member, service_class, billed, service_date, commitment, preauth_id)
        return self.adjudication_in(self._transact(request))

    def approve(self, claim_id: bytes) -> Adjudication:
        """Approve a pended or appealed claim (the plan's insurer); the decision."""
        return self.adjudication_in(self._transact(self._request("approve", claim_id)))

    def deny(self, claim_id: bytes, reason: int) -> Adjudication:
        """Deny a pended or appealed claim with a reason code (the plan's insurer); the decision."""
        return self.adjudication_in(self._transact(self._request("deny", claim_id, reason)))

    def appeal(self, claim_id: bytes, evidence_hash: bytes) -> Adjudication:
        """Appeal a denial, once, with the hash of the evidence (the provider); the decision."""
        return self.adjudication_in(self._transact(self._request("appeal", claim_id, evidence_hash)))

    def release(self, claim_id: bytes) -> Adjudication:
        """Pay a claim that waited for funds, now that the escrow covers it; the decision."""
        return self.adjudication_in(self._transact(self._request("release", claim_id)))

    def pay_patient_share(self, claim_id: bytes, deadline: int = 0, signature: bytes = bytes(65)) -> None:
        """Pay the member's share: with a deadline, `signature` is the member's permit (r ‖ s ‖ v)."""
        request = self._request(
            "pay_patient_share", claim_id, deadline, signature[64], signature[:32], signature[32:64]
        )
        self._transact(request)

    def adjudication_in(self, receipt: Receipt) -> Adjudication:
        """The decision one transaction made."""
        (event,) = self.events_in(receipt, "ClaimAdjudicated")
        return Adjudication.of(event, receipt.gas_used)

    def adjudications(self, claim_id: bytes, *, from_block: int = 0) -> list[Adjudication]:
        """Every decision on a claim, oldest first, from the chain's logs."""
        # Topics as 0x strings: eth-tester matches nothing given bytes.
        topic = HexBytes(event_abi_to_log_topic(self.contract.events.ClaimAdjudicated().abi)).to_0x_hex()
        logs = self.chain.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [topic, HexBytes(claim_id).to_0x_hex()],
            }
        )
        return [Adjudication.of(event) for log in logs if (event := self.decode(log)) is not None]

    def plan(self, plan_id: int) -> Plan:
        """A plan's terms, escrow and open claims; `NotFound` if there is none."""
        raw = self._call("plan", plan_id)
        insurer, token, escrow, deductible, coinsurance, oop_max, start, end, preauth, threshold, open_claims = raw
        if int(start) == 0 and int(end) == 0:
            raise NotFound(f"no plan {plan_id}")
        allowed = tuple(self.allowed_amount(plan_id, index) for index in range(SERVICE_CLASSES))
        terms = PlanTerms(
            token=str(token),
            allowed=allowed,
            deductible=int(deductible),
            coinsurance_bps=int(coinsurance),
            oop_max=int(oop_max),
            coverage_start=int(start),
            coverage_end=int(end),
            preauth_classes=int(preauth),
            review_threshold=int(threshold),
        )
        return Plan(int(plan_id), str(insurer), terms, int(escrow), int(open_claims))

    def plan_parties(self, plan_id: int) -> tuple[str, str]:
        """(insurer, token) of a plan, in one call: what a claim's FHIR form needs."""
        insurer, token, *_ = self._call("plan", plan_id)
        if int(insurer, 16) == 0:
            raise NotFound(f"no plan {plan_id}")
        return str(insurer), str(token)

    def allowed_amount(self, plan_id: int, service_class: int) -> int:
        """The plan's allowed amount for a service class (0: not covered)."""
        return int(self._call("allowed_amount", plan_id, service_class))

    def enrolment(self, member: str) -> Enrolment:
        """A member's enrolment and accumulators; `NotFound` if she is not enrolled."""
        plan_id, start, end, met, oop = self._call("enrolment", to_checksum_address(member))
        if int(plan_id) == 0:
            raise NotFound(f"{member} is not enrolled in any plan")
        return Enrolment(to_checksum_address(member), int(plan_id), int(start), int(end), int(met), int(oop))

    def claim(self, claim_id: bytes) -> ClaimState:
        """A claim by its id; `NotFound` if there is none."""
        raw = self._call("claim", claim_id)
        provider, member, plan_id, service_class, status, reason, flags, billed, payer, patient, service_date = raw
        if int(status) == 0:
            raise NotFound(f"no claim 0x{claim_id.hex()} on chain")
        return ClaimState(
            claim_id=claim_id,
            provider=str(provider),
            member=str(member),
            plan_id=int(plan_id),
            service_class=int(service_class),
            status=ClaimStatus(status),
            reason=int(reason),
            appealed=bool(int(flags) & 1),
            patient_paid=bool(int(flags) & 2),
            billed=int(billed),
            payer_share=int(payer),
            patient_share=int(patient),
            service_date=int(service_date),
        )

    def find_claim(self, claim_id: bytes) -> ClaimState | None:
        """A claim by its id, or None."""
        try:
            return self.claim(claim_id)
        except NotFound:
            return None

    def preauth(self, preauth_id: int) -> Preauth:
        """A prior authorization; `NotFound` if there is none."""
        provider, member, plan_id, service_class, status, reason, valid_until = self._call("preauth", preauth_id)
        if int(status) == 0:
            raise NotFound(f"no prior authorization {preauth_id}")
        return Preauth(
            preauth_id,
            str(provider),
            str(member),
            int(plan_id),
            int(service_class),
            PreauthStatus(status),
            int(reason),
            int(valid_until),
        )
