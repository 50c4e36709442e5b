"""The audit entry of one access through the door: who, which interaction, whose records, and the decision."""

from __future__ import annotations

from collections.abc import Sequence

from careledger.access._policy import Accessor, Decision
from careledger.audit import Access, Action, Outcome
from careledger.records import StoredRecord

# AuditEvent.action of each interaction; the rest (search, break-glass, export) execute.
_ACTIONS = {
    "read": Action.READ,
    "vread": Action.READ,
    "history-instance": Action.READ,
    "history-type": Action.READ,
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "delete": Action.DELETE,
}


def access_entry(
    accessor: Accessor,
    interaction: str,
    patient: str | None,
    stored: Sequence[StoredRecord],
    decision: Decision,
    *,
    detail: str | None = None,
    entities: Sequence[str] = (),
) -> Access:
    """One audit entry; its detail is the refusal, the break-glass reason, or `detail`. `entities` names what
    was asked for when no version was found (an unknown id), besides the versions in `stored`."""
    return Access(
        action=_ACTIONS.get(interaction, Action.EXECUTE),
        interaction=interaction,
        outcome=Outcome.SUCCESS if decision.allowed else Outcome.DENIED,
        agent=accessor.address,
        patient=patient,
        entities=(*entities, *(f"{s.resource_type}/{s.record_id}/_history/{s.version}" for s in stored)),
        purpose=accessor.purpose.value,
        break_glass=decision.break_glass,
        detail=decision.why if not decision.allowed or decision.break_glass or decision.care_team else detail,
    )


def by_patient(versions: Sequence[StoredRecord]) -> dict[str, list[StoredRecord]]:
    """Versions grouped by the patient they belong to, in order: one audit entry per patient."""
    grouped: dict[str, list[StoredRecord]] = {}
    for version in versions:
        grouped.setdefault(version.patient_address, []).append(version)
    return grouped


def write_entries(
    accessor: Accessor, stored: Sequence[StoredRecord], decision: Decision, *, detail: str | None = None
) -> list[Access]:
    """The audit entries of versions `accessor` stored: one per patient, each naming its interaction."""
    return [
        access_entry(accessor, write_interaction(versions), patient, versions, decision, detail=detail)
        for patient, versions in by_patient(stored).items()
    ]


def write_interaction(versions: Sequence[StoredRecord]) -> str:
    """The FHIR interaction a write of these versions was: a delete, a create, or an update."""
    if any(v.deleted for v in versions):
        return "delete"
    return "create" if all(v.version == 1 for v in versions) else "update"
