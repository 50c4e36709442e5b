"""What a visit costs the patient before she books it: her plan's answer for the visit's class, or the whole fee.

Amounts are integers of the token's base units: what a quote says she pays is what is held in escrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careledger.claims import Estimate, ServiceClass
from careledger.records import Resource


@dataclass(frozen=True, slots=True)
class VisitQuote:
    """What a visit costs the patient, in the token's base units: the fee the practitioner asks, whether her
    plan covers the visit's class (and why not, in words), her coinsurance (`copay`) and the deductible she has
    left before it, and what she pays in all (held in escrow when she books). Without a plan she pays the fee."""

    fee: int
    covered: bool
    copay: int
    deductible_left: int
    patient_pays: int
    why: str
    plan_id: int | None = None
    eligibility: Resource | None = None

    def summary(self) -> dict[str, Any]:
        """The quote as plain JSON (amounts as integers), for the CLI and the API's Parameters."""
        return {
            "fee": self.fee,
            "covered": self.covered,
            "copay": self.copay,
            "deductible_left": self.deductible_left,
            "patient_pays": self.patient_pays,
            "plan": self.plan_id,
            "why": self.why,
        }


def quote_of(estimate: Estimate | None, fee: int, service_class: ServiceClass) -> VisitQuote:
    """The quote of a visit of `service_class` for `fee` from her plan's estimate (None: no plan): the plan's
    shares of what it allows, and the rest of the fee hers; an uncovered class, or a plan not in force, said so
    with the whole fee to pay."""
    if estimate is None:
        return VisitQuote(fee, False, 0, 0, fee, "no plan on chain: the schedule's fee is paid in full")
    share, plan = estimate.share, estimate.plan_id
    if not estimate.in_force:
        why = f"plan {plan} is not in force today: the fee is paid in full"
    elif not estimate.covered:
        why = f"plan {plan} does not cover {service_class.label}: the fee is paid in full"
    else:
        beyond = fee - share.allowed
        why = f"plan {plan} covers {service_class.label}" + (
            f" up to {share.allowed}; {beyond} above it is the patient's" if beyond else ""
        )
        pays = share.patient + beyond
        return VisitQuote(fee, True, share.coinsurance, share.deductible_left, pays, why, plan, estimate.response)
    return VisitQuote(fee, False, 0, share.deductible_left, fee, why, plan, estimate.response)
