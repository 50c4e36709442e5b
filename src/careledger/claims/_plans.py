"""An insurer's side of claims: plans and their escrow, the network, enrolment, prior authorization.

Each call names the wallet held on this node that signs it (the insurer's, a provider's,
a funder's); the contract checks the rest and its revert reason becomes the error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from careledger.chain import Claims, Plan, PlanTerms, Preauth
from careledger.claims._classes import ServiceClass
from careledger.claims._fhir import Money
from careledger.claims._payments import Payments
from careledger.errors import ChainError, NotFound

_DAY = 86_400
_BASIS_POINTS = 10_000  # coinsurance is in basis points (claim_plans.BASIS_POINTS)


@dataclass(frozen=True, slots=True)
class PlanView:
    """A plan and how its token's amounts are written."""

    plan: Plan
    money: Money


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a member stands in her plan year: what she has paid toward the deductible and the out-of-pocket
    maximum, in the plan token's units."""

    plan: PlanView
    start: int
    end: int
    deductible_met: int
    out_of_pocket: int

    def amount(self, units: int) -> str:
        """`units` as written: '12.5 CARE'."""
        return f"{self.plan.money(units)['value']} {self.plan.money.symbol}".strip()

    def in_force(self, at: int) -> bool:
        """Whether her enrolment covers the chain time `at` (a block's), as the contract judges a claim's."""
        return self.start <= at <= self.end

    def share(self, service_class: ServiceClass, billed: int) -> CostShare:
        """How the plan would share `billed` for a service of `service_class` were it adjudicated now: the
        contract's own arithmetic (`claim_plans._allowed_for`, `claim_members._member_share`), so what a patient
        is told before a visit is what the claim after it will say. Integers of base units throughout."""
        terms = self.plan.plan.terms
        allowed = min(billed, terms.allowed[service_class])
        deductible_left = max(terms.deductible - self.deductible_met, 0)
        toward_deductible = min(allowed, deductible_left)
        coinsurance = (allowed - toward_deductible) * terms.coinsurance_bps // _BASIS_POINTS
        patient = min(toward_deductible + coinsurance, max(terms.oop_max - self.out_of_pocket, 0))
        deductible = min(toward_deductible, patient)
        return CostShare(allowed, deductible, patient - deductible, patient, allowed - patient, deductible_left)


@dataclass(frozen=True, slots=True)
class CostShare:
    """One bill shared between a plan and its member, in the plan token's base units: what the plan allows of it
    (0: the class is not covered), the member's part toward her deductible and her coinsurance on the rest (their
    sum, `patient`, capped by what is left of her out-of-pocket maximum), the plan's part, and the deductible she
    had left before this bill. What the plan does not allow is not in any of them."""

    allowed: int
    deductible: int
    coinsurance: int
    patient: int
    payer: int
    deductible_left: int


class Plans:
    """Plans, escrow, network, enrolment and prior authorization on the Claims contract."""

    def __init__(self, claims: Callable[..., Claims], payments: Payments, clock: Callable[[], int]) -> None:
        """`claims(as_wallet=None)`: the facade; `clock`: the chain's time, which coverage is measured by."""
        self._claims = claims
        self._payments = payments
        self._clock = clock

    def create(self, as_wallet: str, terms: PlanTerms, *, fund: int = 0) -> PlanView:
        """Register a plan as the insurer `as_wallet` and, with `fund`, put that much into its escrow.

        The contract creates and funds in two transactions, so what can make the second fail is checked
        before the first: the wallet must hold `fund` (`Conflict` if not) and the contract is approved to
        take it. A plan is then never left without the escrow it was created to have; should the funding
        still fail, the error names the plan so that it can be funded later.
        """
        claims = self._claims(as_wallet=as_wallet)
        if fund:
            self._payments.require_funds(as_wallet, terms.token, fund)
            self._payments.approve_for(as_wallet, terms.token, claims.address, fund)
        plan_id = claims.create_plan(terms)
        if fund:
            try:
                claims.fund(plan_id, fund)
            except ChainError as exc:
                raise ChainError(f"plan {plan_id} was created, but funding its escrow failed: {exc}") from exc
        return self.show(plan_id)

    def fund(self, as_wallet: str, plan_id: int, units: int) -> int:
        """Add to a plan's escrow from `as_wallet` (approving the contract first if need be); the escrow after."""
        claims = self._claims(as_wallet=as_wallet)
        self._payments.approve_for(as_wallet, claims.plan_parties(plan_id)[1], claims.address, units)
        return claims.fund(plan_id, units)

    def show(self, plan_id: int) -> PlanView:
        """A plan's terms, escrow and open claims, with how its amounts are written."""
        plan = self._claims().plan(plan_id)
        return PlanView(plan, self._payments.currency(plan.terms.token))

    def money_of(self, plan_id: int) -> Money:
        """How a plan's amounts are written (its token's decimals and symbol)."""
        return self._payments.currency(self._claims().plan_parties(plan_id)[1])

    def set_network(self, as_wallet: str, plan_id: int, provider: str, in_network: bool) -> None:
        """Admit a registered provider to the plan's network, or remove it (the plan's insurer)."""
        self._claims(as_wallet=as_wallet).set_network(plan_id, provider, in_network)

    def enroll(
        self, as_wallet: str, member: str, plan_id: int, start: int | None = None, end: int | None = None
    ) -> tuple[int, int]:
        """Enrol a registered patient for [start, end] (the plan's coverage by default); the period."""
        claims = self._claims(as_wallet=as_wallet)
        terms = claims.plan(plan_id).terms
        first = terms.coverage_start if start is None else start
        last = terms.coverage_end if end is None else end
        claims.enroll(member, plan_id, first, last)
        return first, last

    def plan_of(self, member: str) -> tuple[int, str | None]:
        """The member's plan and its insurer; (0, None) if she is not enrolled (the chain then denies, 31:
        the answer a provider needs, so not an error here)."""
        claims = self._claims()
        try:
            plan_id = claims.enrolment(member).plan_id
        except NotFound:
            return 0, None
        return plan_id, claims.plan_parties(plan_id)[0]

    def standing(self, member: str) -> Standing | None:
        """The member's plan and progress to its deductible and out-of-pocket maximum; None if not enrolled."""
        try:
            enrolment = self._claims().enrolment(member)
        except NotFound:
            return None
        view = self.show(enrolment.plan_id)
        return Standing(view, enrolment.start, enrolment.end, enrolment.deductible_met, enrolment.out_of_pocket)

    def request_preauth(self, as_wallet: str, member: str, service_class: ServiceClass) -> int:
        """A provider asks the member's plan to authorize a service in advance; the request's id.

        The request itself (a Claim with use = preauthorization) stays off chain; none is written yet.
        """
        return self._claims(as_wallet=as_wallet).request_preauth(member, service_class, bytes(32))

    def decide_preauth(self, as_wallet: str, preauth_id: int, *, approve_days: int = 0, deny: int = 0) -> Preauth:
        """The insurer approves a request for `approve_days`, or denies it with a reason code."""
        until = self._clock() + approve_days * _DAY if approve_days else 0
        claims = self._claims(as_wallet=as_wallet)
        claims.decide_preauth(preauth_id, bool(approve_days), deny, until)
        return claims.preauth(preauth_id)
