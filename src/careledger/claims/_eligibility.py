"""Coverage and eligibility for whoever may see them: the member's plan on chain, as FHIR views.

```
Patient ids asked ─► the caller's door (`Repository.members`: the policy's `may_see_coverage`, audited)
   ─► each member's enrolment and plan on chain (`Plans.standing`) ─► Coverage / CoverageEligibilityResponse
```

Nothing is stored: each answer is built from the chain when asked, so a deductible used up by a claim paid a
block ago is already counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from careledger.access import Member, Repository
from careledger.claims._classes import ServiceClass
from careledger.claims._coverage import (
    EligibilityAsk,
    coverage_id,
    coverage_patient,
    coverage_resource,
    eligibility_ask,
    eligibility_response,
)
from careledger.claims._plans import CostShare, Plans, Standing
from careledger.errors import UnknownRecord, ValidationError
from careledger.records import Resource


@dataclass(frozen=True, slots=True)
class Estimate:
    """A member's plan's answer about one service before it is given: the CoverageEligibilityResponse for its
    class, whether the plan is in force, and how its bill would be shared (exact integers, `Standing.share`)."""

    plan_id: int
    in_force: bool
    share: CostShare
    response: Resource

    @property
    def covered(self) -> bool:
        """Whether the plan would pay any of it: in force, and the class allowed."""
        return self.in_force and self.share.allowed > 0


class Coverages:
    """Members' Coverage and eligibility, read through the caller's door and built from the chain."""

    def __init__(
        self,
        plans: Plans,
        *,
        chain_id: int,
        chain_time: Callable[[], int],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`chain_time()`: the latest block's time, which a plan is in force by; `clock`: when an answer is made."""
        self._plans = plans
        self._chain_id = chain_id
        self._chain_time = chain_time
        self._clock = clock

    def search(
        self, reader: Repository, patient_ids: Sequence[str] | None, *, offset: int = 0, count: int | None = None
    ) -> tuple[list[Resource], int]:
        """The `count` Coverages after the first `offset` of the patients `patient_ids` names (None: every
        patient here) that `reader`'s caller may see, and how many there are in all; the others are left out, as
        a search leaves out what it may not show. Only the page's plans are asked of the chain; a member on the
        page whose enrolment the chain no longer has is left out of the total as well as the page, so the two
        agree."""
        page = slice(offset, None if count is None else offset + count)
        members, total = reader.members(patient_ids, "search-type", page)
        standings = self._standings(members)
        found = [
            coverage_resource(member.patient_id, standing, chain_id=self._chain_id) for member, standing in standings
        ]
        return found, total - (len(members) - len(standings))

    def read(self, reader: Repository, wanted: str) -> Resource:
        """The Coverage whose id is `wanted`; `UnknownRecord` alike for an unknown id, a patient not (or no
        longer) in that plan, and one the caller may not see."""
        patient_id = coverage_patient(wanted)
        members = [] if patient_id is None else reader.members([patient_id], "read")[0]
        for member, standing in self._standings(members):
            coverage = coverage_resource(member.patient_id, standing, chain_id=self._chain_id)
            if coverage["id"] == wanted:
                return coverage
        raise UnknownRecord(wanted)

    def eligibility(self, reader: Repository, body: Resource) -> Resource:
        """The plan's answer to a CoverageEligibilityRequest (`body`, validated here), from the chain;
        `UnknownRecord` alike for a patient who is not here, not enrolled, or whose coverage the caller may not
        see."""
        ask = eligibility_ask(body)
        found = self._standings(reader.members([ask.patient_id], "eligibility")[0])
        if not found:
            raise UnknownRecord(ask.patient_id)
        member, standing = found[0]
        current = coverage_id(member.patient_id, standing.plan.plan.plan_id)
        if ask.coverage_id is not None and ask.coverage_id != current:
            raise ValidationError(f"Coverage/{ask.coverage_id} is not the patient's coverage: Coverage/{current} is")
        return eligibility_response(
            ask,
            member.patient_id,
            standing,
            chain_id=self._chain_id,
            created=self._clock(),
            chain_time=self._chain_time(),
        )

    def estimate(
        self, reader: Repository, patient_id: str, service_class: ServiceClass, billed: int
    ) -> Estimate | None:
        """What the plan of the patient `patient_id` would say of `billed` for a service of `service_class` if it
        were given now: the eligibility answer for the class and the exact shares, through the caller's door
        (audited as an eligibility answer is); None alike for a patient in no plan and one whose coverage the
        caller may not see, as `eligibility` tells them alike."""
        found = self._standings(reader.members([patient_id], "eligibility")[0])
        if not found:
            return None
        member, standing = found[0]
        chain_time = self._chain_time()
        response = eligibility_response(
            EligibilityAsk(member.patient_id, None, (service_class,), None),
            member.patient_id,
            standing,
            chain_id=self._chain_id,
            created=self._clock(),
            chain_time=chain_time,
        )
        plan_id = standing.plan.plan.plan_id
        return Estimate(plan_id, standing.in_force(chain_time), standing.share(service_class, billed), response)

    def _standings(self, members: Sequence[Member]) -> list[tuple[Member, Standing]]:
        """Where each member the caller may see stands in her plan (one whose enrolment ended since the door
        looked is left out)."""
        return [
            (member, standing) for member in members if (standing := self._plans.standing(member.address)) is not None
        ]
