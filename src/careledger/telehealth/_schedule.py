"""A practitioner's Schedule and its Slots: what she offers (a service class, a visit in person or virtual, a fee),
published as the node's own resources through the caller's guarded repository.

Schedule and Slot name no patient, so the access policy makes them the node's own: written by the node and its
care team, read by every signed-in actor (`access/_policy.py`). How they are coded:

- `Schedule.actor`: the `Practitioner/<id>` (a record of this node) whose time it is;
- `Schedule.serviceType` and each Slot's: the service class the plans on chain know (`claims.ServiceClass`, system
  `service-class`), so the coverage of a booking is that class's;
- the visit's mode, which FHIR R4 has no element for: `Slot.appointmentType` (and the Appointment's) coded
  `virtual` or `in-person` in CareLedger's `visit-mode` system; the Schedule carries it as an extension of that
  same coding, so each Slot it opens copies it;
- a fee: the extension `visit-fee` on the Schedule, an integer of CARE units (a token is no ISO 4217 currency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from careledger.access import Repository
from careledger.claims import ServiceClass
from careledger.errors import ValidationError
from careledger.fhir import concept, fhir_instant, systems
from careledger.records import Resource

MAX_SLOTS = 500  # one call opens at most this many (a month of 20-minute slots, eight hours a day, is 500)
MIN_MINUTES, MAX_MINUTES = 5, 8 * 60
# An Appointment with a start but neither an end nor `minutesDuration` is taken to last this long.
DEFAULT_LENGTH = timedelta(minutes=30)
# `Scheduling.find` (and the portal's find page) look through at most this many days at once.
MAX_FIND_DAYS = 92
# Instants outside these years are refused: no visit is that far off, and date arithmetic near year 9999 overflows.
FIRST_YEAR, LAST_YEAR = 1900, 2200


class VisitMode(StrEnum):
    """Whether a visit is held over video or in the room."""

    VIRTUAL = "virtual"
    IN_PERSON = "in-person"

    @classmethod
    def parse(cls, text: str) -> VisitMode:
        """A mode from its code; `ValidationError` naming both."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValidationError(f"unknown visit mode {text[:40]!r} (virtual or in-person)") from None

    def coding(self) -> dict[str, Any]:
        """The mode as a CodeableConcept of CareLedger's `visit-mode` system (a Slot's appointmentType)."""
        return concept(systems.VISIT_MODE, self.value, "Virtual visit" if self is VisitMode.VIRTUAL else "In person")


def parse_instant(text: str, name: str) -> datetime:
    """A date-time with its zone (FHIR's `instant`, or ISO 8601 as people write it) in UTC; `ValidationError`
    naming `name` for anything else, a date alone included (whose midnight would it be?)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValidationError(f"{name}: give the time zone (…Z or …+02:00): {text[:40]!r}")
        moment = moment.astimezone(UTC)  # OverflowError for a moment past year 9999 in UTC
    except (ValueError, AttributeError, TypeError, OverflowError):
        raise ValidationError(f"{name}: not a date-time: {str(text)[:40]!r}") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValidationError(f"{name}: a date-time in the years {FIRST_YEAR} to {LAST_YEAR}, not {text[:40]!r}")
    return moment


def appointment_window(appointment: Resource) -> tuple[datetime, datetime]:
    """When a visit (an Appointment, or the Slot it takes) starts and ends, in UTC: its `end`, else its start plus
    `minutesDuration` (at most `MAX_MINUTES`), else plus `DEFAULT_LENGTH`. The one reckoning the room, the visit's
    consent and its escrow share; `ValidationError` for a start missing or malformed, or an end before it."""
    start = parse_instant(str(appointment.get("start", "")), "start")
    minutes = appointment.get("minutesDuration")
    if appointment.get("end"):
        end = parse_instant(str(appointment["end"]), "end")
    elif isinstance(minutes, int) and not isinstance(minutes, bool):
        if not 1 <= minutes <= MAX_MINUTES:
            raise ValidationError(f"minutesDuration: 1 to {MAX_MINUTES} minutes, not {minutes}")
        end = start + timedelta(minutes=minutes)
    else:
        end = start + DEFAULT_LENGTH
    if end < start:
        raise ValidationError("the visit's end comes before its start")
    return start, end


def service_class(resource: Resource) -> ServiceClass | None:
    """The service class a Schedule, Slot or Appointment is coded with (None if none)."""
    for kind in resource.get("serviceType", []):
        for coding in kind.get("coding", []):
            if coding.get("system") == systems.SERVICE_CLASS:
                return ServiceClass.parse(str(coding.get("code", "")))
    return None


def visit_mode(resource: Resource) -> VisitMode | None:
    """The visit mode a Slot or Appointment (`appointmentType`) or a Schedule (its extension) is coded with."""
    kinds = [resource.get("appointmentType", {})]
    kinds += [
        e.get("valueCodeableConcept", {})
        for e in resource.get("extension", [])
        if e.get("url") == systems.VISIT_MODE_EXTENSION
    ]
    for kind in kinds:
        for coding in kind.get("coding", []):
            if coding.get("system") == systems.VISIT_MODE:
                return VisitMode.parse(str(coding.get("code", "")))
    return None


def fee_of(schedule: Resource) -> int | None:
    """The fee the Schedule's practitioner charges per visit, in CARE units (None: no fee); `ValidationError` for
    a fee extension that is not a whole number of units, or one below zero (it would reach the escrow)."""
    for extension in schedule.get("extension", []):
        if isinstance(extension, dict) and extension.get("url") == systems.VISIT_FEE_EXTENSION:
            fee = extension.get("valueInteger")
            if not isinstance(fee, int) or isinstance(fee, bool) or fee < 0:
                raise ValidationError(
                    f"{schedule.get('resourceType', 'Schedule')}/{schedule.get('id', '')}: its "
                    "visit fee is not a whole number of CARE units, zero or more"
                )
            return fee
    return None


def priced(schedule: Resource) -> bool:
    """Whether the Schedule's fee is well formed (or it has none): one that is not offers nothing until mended."""
    try:
        fee_of(schedule)
    except ValidationError:
        return False
    return True


def practitioner_of(resource: Resource) -> str | None:
    """The `Practitioner/<id>` a Schedule's actor (or an Appointment's participant) names."""
    actors = [a.get("reference", "") for a in resource.get("actor", [])]
    actors += [p.get("actor", {}).get("reference", "") for p in resource.get("participant", [])]
    return next((a for a in actors if a.startswith("Practitioner/")), None)


@dataclass(frozen=True, slots=True)
class Offer:
    """What a Schedule offers: whose time, which service class, in which mode, for what fee (CARE units)."""

    practitioner_id: str
    service: ServiceClass
    mode: VisitMode
    fee: int | None = None
    comment: str | None = None

    def resource(self) -> Resource:
        """The Schedule this offer is published as."""
        if self.fee is not None and self.fee < 0:
            raise ValidationError(f"a fee is a whole number of CARE units, not {self.fee}")
        extension: list[dict[str, Any]] = [
            {"url": systems.VISIT_MODE_EXTENSION, "valueCodeableConcept": self.mode.coding()}
        ]
        if self.fee is not None:
            extension.append({"url": systems.VISIT_FEE_EXTENSION, "valueInteger": self.fee})
        schedule: Resource = {
            "resourceType": "Schedule",
            "extension": extension,
            "active": True,
            "serviceType": [concept(systems.SERVICE_CLASS, self.service.label)],
            "actor": [{"reference": f"Practitioner/{self.practitioner_id}"}],
        }
        if self.comment:
            schedule["comment"] = self.comment
        return schedule


def slots_of(schedule: Resource, start: datetime, end: datetime, minutes: int) -> list[Resource]:
    """Free Slots of `minutes` each from `start` until `end` (a last one that would run past it is left out), coded
    as the Schedule is."""
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValidationError(f"a slot lasts {MIN_MINUTES} to {MAX_MINUTES} minutes, not {minutes}")
    if end <= start:
        raise ValidationError("the slots' end must come after their start")
    count = int((end - start) / timedelta(minutes=minutes))
    if count > MAX_SLOTS:
        raise ValidationError(f"{count} slots at once: open at most {MAX_SLOTS} per call")
    mode = visit_mode(schedule)
    step = timedelta(minutes=minutes)
    return [
        {
            "resourceType": "Slot",
            "schedule": {"reference": f"Schedule/{schedule['id']}"},
            "status": "free",
            "serviceType": schedule.get("serviceType", []),
            **({"appointmentType": mode.coding()} if mode is not None else {}),
            "start": fhir_instant(start + step * n, precision="seconds"),
            "end": fhir_instant(start + step * (n + 1), precision="seconds"),
        }
        for n in range(count)
    ]


class Schedules:
    """Publishing Schedules and opening their Slots, as whoever's door is given (the node or its care team)."""

    def publish(self, repo: Repository, offer: Offer) -> Resource:
        """Publish `offer` as a Schedule of its practitioner (a Practitioner record the caller may read)."""
        practitioner = repo.read(offer.practitioner_id)
        if practitioner["resourceType"] != "Practitioner":
            raise ValidationError(f"{offer.practitioner_id} is a {practitioner['resourceType']}, not a Practitioner")
        draft = repo.prepare(offer.resource())
        repo.store([draft])
        return draft.data

    def open_slots(
        self, repo: Repository, schedule_id: str, start: datetime, end: datetime, minutes: int
    ) -> list[Resource]:
        """Open free Slots of `minutes` on the Schedule `schedule_id` from `start` to `end`, all or none."""
        schedule = repo.read(schedule_id)
        if schedule["resourceType"] != "Schedule":
            raise ValidationError(f"{schedule_id} is a {schedule['resourceType']}, not a Schedule")
        if not schedule.get("active", True):
            raise ValidationError(f"Schedule/{schedule_id} is not active")
        drafts = [repo.prepare(slot) for slot in slots_of(schedule, start, end, minutes)]
        repo.store(drafts)
        return [draft.data for draft in drafts]
