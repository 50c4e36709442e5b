"""Reminders of a signed-in person's visits soon to come: among the first events of her notification stream.

A stream that opens says what is unread and which of her visits start within `REMINDER_WINDOW`: a patient's
by her Patient records, a practitioner's by the Practitioner records naming her wallet, each found through her
own door (`Scheduling.upcoming`), so a reminder names only what she may read, and is audited as her search.
"""

from __future__ import annotations

from datetime import timedelta

from careledger.access import Repository, wallet_reference
from careledger.records import Resource, search_query
from careledger.telehealth._booking import Scheduling
from careledger.telehealth._events import Event

REMINDER_WINDOW = timedelta(hours=24)


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
