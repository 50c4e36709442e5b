"""Visits as lists show them: a patient's to come, the care team's day, a chart's visits today.

Read through the caller's door (the Appointments she may see), their participants named as she knows them,
each with whether its room is open now (`telehealth.window`, the room's own rule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from careledger.access import Repository
from careledger.errors import ValidationError
from careledger.fhir import fhir_instant
from careledger.portal._names import reference_names
from careledger.records import Resource, search_query
from careledger.services import Services
from careledger.telehealth import ACTIVE, VisitMode, service_class, visit_mode, window

_MODES = {None: "", VisitMode.VIRTUAL: "video", VisitMode.IN_PERSON: "in person"}


@dataclass(frozen=True, slots=True)
class Booking:
    """One visit as a list shows it: when, with whom, for what, how, and whether its room is open now."""

    appointment_id: str
    start: str
    practitioner: str
    patient: str
    patient_id: str
    service: str
    mode: str
    status: str
    room_open: bool


def bookings(
    node: Services, door: Repository, start: datetime, end: datetime, *, patient_address: str | None = None
) -> list[Booking]:
    """The active Appointments the door shows that start from `start` until before `end` (hers only, given her
    address), soonest first, their participants named."""
    wanted = [
        ("date", f"ge{fhir_instant(start, precision='seconds')}"),
        ("date", f"lt{fhir_instant(end, precision='seconds')}"),
        ("status", ",".join(sorted(ACTIVE))),
        ("_sort", "date"),
    ]
    query, unknown = search_query("Appointment", wanted, patient_address=patient_address)
    if unknown:  # every parameter is the specification's: an ignored one would widen the list
        raise ValidationError(f"unknown search parameters of Appointment: {', '.join(unknown)}")
    found = door.search(query)
    name = reference_names(node, door, found)
    now = datetime.now(UTC)
    return [_booking(a, name, now) for a in found]


def day_of(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """When `day` begins and ends in `zone`, in UTC."""
    begins = datetime.combine(day, time.min, tzinfo=zone)
    return begins.astimezone(UTC), (begins + timedelta(days=1)).astimezone(UTC)


def _booking(appointment: Resource, name: Callable[[Any], str], now: datetime) -> Booking:
    """One Appointment as a list shows it."""
    actors = [p.get("actor", {}) for p in appointment.get("participant", []) if isinstance(p, dict)]
    her: dict[str, Any] = next((a for a in actors if str(a.get("reference", "")).startswith("Patient/")), {})
    kind = service_class(appointment)
    return Booking(
        appointment_id=str(appointment.get("id", "")),
        start=str(appointment.get("start", "")),
        practitioner=name([a for a in actors if a is not her]),
        patient=name(her),
        patient_id=str(her.get("reference", "")).removeprefix("Patient/"),
        service=kind.label.replace("-", " ") if kind is not None else "",
        mode=_MODES[visit_mode(appointment)],
        status=str(appointment.get("status", "")),
        room_open=_room_open(appointment, now),
    )


def _room_open(appointment: Resource, now: datetime) -> bool:
    """Whether the visit's room is open at `now`; not for one whose window is past reckoning (an end or a length
    edited by hand), which the list still shows rather than refusing the whole page."""
    try:
        opens, closes = window(appointment)
    except ValidationError:
        return False
    return opens <= now <= closes
