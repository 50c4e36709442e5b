"""Who is admitted to an Appointment's visit room, and when: a policy decision, made here and nowhere in a face.

```
caller ─► her guarded repository ─► read Appointment/<id> (audited) ─► a participant? its status? its window?
         unknown, withheld or not hers ─► `NotFound`, one message for all three
         hers, but cancelled or not open yet / over ─► `AccessDenied` saying when the room opens
```

The room belongs to the Appointment's participants only: its patient (the Patient it names, whose wallet the
door knows) and the practitioners it names by their account (`did:pkh`). A delegate of the patient, a colleague
on the care team, an insurer: none is a participant, so each is told the room does not exist, as a stranger is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from careledger.access import Accessor, Repository
from careledger.errors import AccessDenied, NotFound
from careledger.records import Resource
from careledger.telehealth._participants import _practitioners
from careledger.telehealth._schedule import appointment_window

# The room opens this long before the Appointment's start: a patient early for her visit waits in it.
OPENS_BEFORE = timedelta(minutes=15)
# …and closes this long after its end: a visit that runs over is not cut off.
GRACE_AFTER = timedelta(minutes=30)
# The statuses of a visit still to happen or under way; a proposed, cancelled or finished one has no room.
ACTIVE = frozenset({"booked", "arrived", "checked-in"})


class RoomRole(StrEnum):
    """A participant's part in the room: the patient waits to be admitted, a practitioner admits her."""

    PATIENT = "patient"
    PRACTITIONER = "practitioner"


@dataclass(frozen=True, slots=True)
class Admission:
    """One participant let into one Appointment's room, for its window."""

    appointment_id: str
    who: str
    role: RoomRole
    patient_id: str
    practitioners: tuple[str, ...]
    opens: datetime
    closes: datetime
    accessor: Accessor  # whose door admitted her: the room asks it again when the visit changes

    def open_at(self, now: datetime) -> bool:
        """Whether the room is open at `now`."""
        return self.opens <= now < self.closes


def unknown_room(appointment_id: str) -> NotFound:
    """The one refusal for an Appointment that does not exist, is withheld, or is not the caller's to join."""
    return NotFound(f"no visit room for Appointment/{appointment_id[:64]}")


def admit(repository: Repository, appointment_id: str, now: datetime) -> Admission:
    """The caller of `repository` admitted to the room of `appointment_id` at `now`; `NotFound` (the same for an
    unknown id, a withheld Appointment and one she is no participant of), or `AccessDenied` for a participant
    outside the window or of a visit no longer to happen. Every read goes through her door and is audited."""
    try:
        appointment = repository.read(appointment_id)
        if appointment.get("resourceType") != "Appointment":
            raise unknown_room(appointment_id)
        patient_id = _patient_of(appointment)
        practitioners = _practitioners_of(repository, appointment)
        who = repository.accessor.address
        if who in practitioners:
            role = RoomRole.PRACTITIONER
        elif patient_id and repository.stored(patient_id).patient_address == who:
            role = RoomRole.PATIENT
        else:
            raise unknown_room(appointment_id)
    except (NotFound, AccessDenied):  # unknown, withheld, or her Patient withheld: all told alike
        raise unknown_room(appointment_id) from None
    if not patient_id or not practitioners:
        raise unknown_room(appointment_id)
    status = appointment.get("status")
    if status not in ACTIVE:
        raise AccessDenied(f"this visit is {status}: its room is closed")
    opens, closes = window(appointment)
    admission = Admission(appointment_id, who, role, patient_id, practitioners, opens, closes, repository.accessor)
    if not admission.open_at(now):
        raise AccessDenied(
            f"the visit's room is open from {_shown(opens)} to {_shown(closes)} (UTC): "
            f"{int(OPENS_BEFORE.total_seconds() // 60)} minutes before the visit until "
            f"{int(GRACE_AFTER.total_seconds() // 60)} minutes after its end"
        )
    return admission


def window(appointment: Resource) -> tuple[datetime, datetime]:
    """When the room of `appointment` opens and closes: the visit's own window (`appointment_window`) with the
    room's margins; `ValidationError` for one without a start, or with a malformed one."""
    start, end = appointment_window(appointment)
    return start - OPENS_BEFORE, end + GRACE_AFTER


def _shown(moment: datetime) -> str:
    """A moment as the refusal states it: UTC, to the minute."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _taking_part(appointment: Resource) -> list[dict[str, Any]]:
    """The actors of the participants who have not declined."""
    return [
        participant["actor"]
        for participant in appointment.get("participant", [])
        if isinstance(participant, dict)
        and isinstance(participant.get("actor"), dict)
        and participant.get("status") != "declined"
    ]


def _patient_of(appointment: Resource) -> str:
    """The id of the Patient the Appointment names ('' if none)."""
    for actor in _taking_part(appointment):
        reference = str(actor.get("reference", ""))
        if reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")
    return ""


def _practitioners_of(repository: Repository, appointment: Resource) -> tuple[str, ...]:
    """The wallets of the practitioners the Appointment names (who have not declined), as the visit's records name
    them (`_participants`: by a `did:pkh` identifier, or a `Practitioner/<id>` of this node carrying one)."""
    return tuple(dict.fromkeys(p.address for p in _practitioners(repository, _taking_part(appointment))))
