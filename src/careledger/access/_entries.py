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
