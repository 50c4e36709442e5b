"""Visits: what a visit costs the patient before she books it, and the visit itself (its Encounter).

```
quote:  the patient's door ─► her plan on chain (`Coverages.estimate`: eligibility for the class, exact shares)
           ─► VisitQuote: covered or not (said before she pays anything), copay, deductible left, what she pays
join:   the practitioner's door ─► the Appointment (she is its practitioner) ─► Encounter VR, in-progress
finish: the practitioner's door ─► the Encounter finished
```

Amounts are integers of the token's base units: what a quote says she pays is what is held in escrow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from careledger.access import Repository
from careledger.claims import Coverages, ServiceClass
from careledger.errors import AccessDenied, Conflict, ValidationError
from careledger.fhir import fhir_instant, systems
from careledger.records import Resource, search_query
from careledger.telehealth._participants import performers, practitioner_of, subject_of

_VIRTUAL = {"system": systems.ACT_CODE, "code": "VR", "display": "virtual"}
_PERFORMER = {"coding": [{"system": systems.PARTICIPATION_TYPE, "code": "PPRF", "display": "primary performer"}]}
_OVER = frozenset({"finished", "cancelled", "entered-in-error"})


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


class Visits:
    """Quotes, and the visit's Encounter, for one node."""

    def __init__(self, coverages: Coverages, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """`coverages`: members' plans on chain, read through the caller's door; `clock`: when a visit starts."""
        self._coverages = coverages
        self._clock = clock

    def quote_fee(
        self, reader: Repository, patient_id: str, fee: int, service_class: ServiceClass = ServiceClass.TELEHEALTH
    ) -> VisitQuote:
        """What a visit of `service_class` for `fee` costs the patient `patient_id`, as `reader`'s caller may
        learn it: her Patient record is read through the door (`UnknownRecord` for one not here or not hers to
        see), then her plan's answer for the class (`Coverages.estimate`). An uncovered class, or a plan not in
        force, is said so with the whole fee to pay."""
        if fee < 0:
            raise ValidationError("a visit's fee is a whole number of base units, not negative")
        reader.read(patient_id)
        estimate = self._coverages.estimate(reader, patient_id, service_class, fee)
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

    def join(self, repo: Repository, appointment_id: str) -> Resource:
        """The visit's Encounter (class VR, in progress, since now), written by its practitioner through her
        door when she joins; the one already begun when she joins again. `AccessDenied` for anyone but the
        Appointment's practitioner, `Conflict` for a cancelled Appointment."""
        appointment = repo.read(appointment_id)
        if appointment.get("resourceType") != "Appointment":
            raise ValidationError(f"{appointment_id} is not an Appointment")
        practitioner = practitioner_of(repo, appointment)
        if practitioner.address != repo.accessor.address:
            raise AccessDenied("only the visit's practitioner begins its Encounter")
        if appointment.get("status") in _OVER:
            raise Conflict(f"Appointment/{appointment_id} is {appointment['status']}: there is no visit to join")
        begun = self.encounter_of(repo, appointment_id)
        if begun is not None:
            return begun
        encounter = {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": _VIRTUAL,
            "subject": subject_of(appointment),
            "participant": [{"type": [_PERFORMER], "individual": practitioner.reference}],
            "appointment": [{"reference": f"Appointment/{appointment_id}"}],
            "period": {"start": fhir_instant(self._clock(), precision="seconds")},
            **({"serviceType": appointment["serviceType"][0]} if appointment.get("serviceType") else {}),
        }
        return repo.read(repo.write(encounter).record_id)

    def finish(self, repo: Repository, appointment_id: str) -> Resource:
        """The visit's Encounter finished now, by its practitioner (`AccessDenied` for anyone else); `Conflict` if
        it never began or is already over."""
        encounter = self.encounter_of(repo, appointment_id)
        if encounter is None:
            raise Conflict(f"the visit of Appointment/{appointment_id} has not begun: join it first")
        if repo.accessor.address not in {p.address for p in performers(repo, encounter)}:
            raise AccessDenied("only the visit's practitioner finishes its Encounter")
        if encounter["status"] in _OVER:
            raise Conflict(f"the visit of Appointment/{appointment_id} is already {encounter['status']}")
        period = {**encounter.get("period", {}), "end": fhir_instant(self._clock(), precision="seconds")}
        finished = {**encounter, "status": "finished", "period": period}
        return repo.read(repo.write(finished).record_id)

    def encounter_of(self, repo: Repository, appointment_id: str) -> Resource | None:
        """The Encounter of an Appointment the caller may see, if it has begun (the latest, should there be two)."""
        query, _ = search_query("Encounter", [("appointment", f"Appointment/{appointment_id}")], patient_address=None)
        found = repo.search(query)
        return found[-1] if found else None
