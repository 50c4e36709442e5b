"""The visit's Encounter: begun (class VR, virtual) when its practitioner joins, finished when she ends it.

Both are written through the practitioner's door, so the Encounter is audited as hers and is on the patient's
timeline like any record of her care; notes, observations and prescriptions written during the visit reference it.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime

from careledger.access import Repository
from careledger.errors import AccessDenied, Conflict, NotFound
from careledger.fhir import fhir_instant, systems
from careledger.records import Resource, search_query
from careledger.telehealth._admission import window
from careledger.telehealth._participants import performers, practitioner_of, subject_of

_VIRTUAL = {"system": systems.ACT_CODE, "code": "VR", "display": "virtual"}
_PERFORMER = {"coding": [{"system": systems.PARTICIPATION_TYPE, "code": "PPRF", "display": "primary performer"}]}
OVER = frozenset({"finished", "cancelled", "entered-in-error", "noshow"})


def begin(repo: Repository, appointment_id: str, now: datetime) -> Resource:
    """The visit's Encounter (class VR, in progress, since `now`), written by its practitioner through her door;
    the one already begun when she joins again. `AccessDenied` for anyone but the Appointment's practitioner,
    `Conflict` for an Appointment that is over or not booked, or outside its room's window (`_admission.window`:
    no visit is under way before the room opens, and none begun then would be on her chart)."""
    appointment = _appointment(repo, appointment_id)
    practitioner = practitioner_of(repo, appointment)
    if practitioner.address != repo.accessor.address:
        raise AccessDenied("only the visit's practitioner begins its Encounter")
    if appointment.get("status") != "booked":
        raise Conflict(f"Appointment/{appointment_id} is {appointment.get('status')}: there is no visit to join")
    opens, closes = window(appointment)
    if not opens <= now < closes:
        raise Conflict(
            f"the visit of Appointment/{appointment_id} is joined while its room is open: from"
            f" {fhir_instant(opens, precision='seconds')} to {fhir_instant(closes, precision='seconds')}"
        )
    begun = encounter_of(repo, appointment_id)
    if begun is not None:
        return begun
    encounter = {
        "resourceType": "Encounter",
        "id": encounter_id(appointment_id),
        "status": "in-progress",
        "class": _VIRTUAL,
        "subject": subject_of(appointment),
        "participant": [{"type": [_PERFORMER], "individual": practitioner.reference}],
        "appointment": [{"reference": f"Appointment/{appointment_id}"}],
        "period": {"start": fhir_instant(now, precision="seconds")},
        **({"serviceType": appointment["serviceType"][0]} if appointment.get("serviceType") else {}),
    }
    with suppress(Conflict):  # another join (a second tab, another worker) wrote it at once: that one is the visit's
        repo.write(encounter)
    return repo.read(encounter["id"])


def encounter_id(appointment_id: str) -> str:
    """The record id of the visit's Encounter, derived from its Appointment's: every join of the visit, in any
    tab or worker, writes the one Encounter (two joins at once once wrote two, one left in progress for ever)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"careledger:encounter-of:Appointment/{appointment_id}"))


def finish(repo: Repository, appointment_id: str, now: datetime) -> Resource:
    """The visit's Encounter finished at `now` by its practitioner (`AccessDenied` for anyone else), or as she
    finished it before; `Conflict` if it never began or was ended otherwise (cancelled, entered in error). An
    Appointment the caller may not see is told as an unknown one is."""
    _appointment(repo, appointment_id)
    encounter = encounter_of(repo, appointment_id)
    if encounter is None:
        raise Conflict(f"the visit of Appointment/{appointment_id} has not begun: join it first")
    if repo.accessor.address not in {p.address for p in performers(repo, encounter)}:
        raise AccessDenied("only the visit's practitioner finishes its Encounter")
    if encounter["status"] == "finished":
        return encounter
    if encounter["status"] in OVER:
        raise Conflict(f"the visit of Appointment/{appointment_id} is {encounter['status']}")
    period = {**encounter.get("period", {}), "end": fhir_instant(now, precision="seconds")}
    return repo.read(repo.write({**encounter, "status": "finished", "period": period}).record_id)


def encounter_of(repo: Repository, appointment_id: str) -> Resource | None:
    """The Encounter of an Appointment the caller may see, if it has begun (the latest, should there be two)."""
    query, _ = search_query("Encounter", [("appointment", f"Appointment/{appointment_id}")], patient_address=None)
    found = repo.search(query)
    return found[-1] if found else None


def _appointment(repo: Repository, appointment_id: str) -> Resource:
    """The Appointment `appointment_id`, through the caller's door; `NotFound` for a record of another type."""
    appointment = repo.read(appointment_id)
    if appointment.get("resourceType") != "Appointment":
        raise NotFound(f"no Appointment/{appointment_id}")
    return appointment
