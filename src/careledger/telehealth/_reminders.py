"""Reminders of a signed-in person's visits soon to come: among the first events of her notification stream.

A stream that opens says what is unread and which of her visits start within `REMINDER_WINDOW`: a patient's
by her Patient records, a practitioner's by the Practitioner records naming her wallet, each found through her
own door (`Scheduling.upcoming`), so a reminder names only what she may read, and is audited as her search.

Besides, the node's leader (`serve`'s background rounds) sends each booked visit's patient and practitioner a
`reminder` as its start comes near (`Reminders.send_due`: 24 hours, then 15 minutes before), once per visit and
lead, whichever worker leads and however often it restarts: a shared ticket (`careledger.shared.Tickets.add`)
is taken before the event goes out. At most once, then: should the bus fail after the ticket was taken, that
reminder is not sent again, where twice would be sent to every stream of hers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta

from careledger.access import Accessor, RecordAccess, Repository, wallet_reference
from careledger.consent import Purpose
from careledger.errors import ValidationError
from careledger.records import Resource, search_query
from careledger.shared import Tickets
from careledger.telehealth._booking import Scheduling
from careledger.telehealth._events import Event, Events
from careledger.telehealth._participants import practitioner_of, subject_of
from careledger.telehealth._schedule import parse_instant

REMINDER_WINDOW = timedelta(hours=24)
REMINDER_LEADS = (timedelta(hours=24), timedelta(minutes=15))  # before a visit's start, each reminder is due
_SENT = "visit-reminder"  # the tickets' kind: one per visit, start and lead, once sent


def visit_reminders(
    scheduling: Scheduling, door: Repository, chain_id: int, within: timedelta = REMINDER_WINDOW
) -> list[Event]:
    """A `reminder` event (the Appointment's id, start and status: no reason, no name) per visit of the door's
    caller starting within `within`, soonest first."""
    wallet = door.accessor.address
    participants = [f"Patient/{s.record_id}" for s in door.listing(resource_type="Patient", patient_address=wallet)]
    identifier = wallet_reference("Practitioner", wallet, chain_id)["identifier"]
    query, _ = search_query(
        "Practitioner", [("identifier", f"{identifier['system']}|{identifier['value']}")], patient_address=None
    )
    participants += [f"Practitioner/{p['id']}" for p in door.search(query)]
    found: dict[str, Resource] = {}
    for participant in participants:
        for appointment in scheduling.upcoming(door, participant, within):
            found.setdefault(str(appointment["id"]), appointment)
    soonest = sorted(found.values(), key=lambda a: str(a.get("start", "")))
    return [
        Event("reminder", {"appointment": a["id"], "start": a.get("start"), "status": a.get("status")}) for a in soonest
    ]


class Reminders:
    """The reminders the node's leader sends as visits come near, each once (module docstring)."""

    def __init__(
        self,
        scheduling: Scheduling,
        access: RecordAccess,
        events: Events,
        tickets: Tickets,
        *,
        custodian: str,
        leads: Sequence[timedelta] = REMINDER_LEADS,
    ) -> None:
        """`access` gives the node its own door, through which it finds every booked visit of the node."""
        self._scheduling = scheduling
        self._access = access
        self._events = events
        self._tickets = tickets
        self._custodian = custodian
        self._leads = sorted(leads)

    def send_due(self) -> int:
        """Send each booked visit starting within the longest lead the reminder of the shortest lead it has come
        within (a visit booked 10 minutes before its start gets the 15-minute one alone), unless it was sent: a
        `reminder` event (the Appointment's id and start: nothing of the visit's reason or of who it is with) to
        its patient's and its practitioner's streams. How many visits were reminded."""
        door = self._access.for_caller(Accessor(self._custodian, Purpose.HOPERAT))
        now = self._scheduling.now()
        sent = 0
        for appointment in self._scheduling.upcoming(door, None, self._leads[-1]):
            start = str(appointment.get("start", ""))
            left = parse_instant(start, "start") - now
            lead = next((lead for lead in self._leads if left <= lead), None)
            if appointment.get("status") != "booked" or lead is None:
                continue
            once = f"{appointment['id']}|{start}|{int(lead.total_seconds())}"  # a visit moved is reminded anew
            if not self._tickets.add(_SENT, once, left.total_seconds() + REMINDER_WINDOW.total_seconds()):
                continue
            for wallet in _wallets(door, appointment):
                self._events.publish(wallet, "reminder", {"appointment": appointment["id"], "start": start})
            sent += 1
        return sent


def _wallets(door: Repository, appointment: Resource) -> list[str]:
    """The wallets of a visit's patient (her Patient record's) and practitioner, of those it names (a practitioner
    named by no wallet has no stream here to tell)."""
    wallets = []
    with contextlib.suppress(ValidationError):
        wallets.append(door.stored(str(subject_of(appointment)["reference"]).removeprefix("Patient/")).patient_address)
    with contextlib.suppress(ValidationError):
        wallets.append(practitioner_of(door, appointment).address)
    return wallets
