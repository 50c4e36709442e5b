"""The audit entry of one access through the door: who, which interaction, whose records, and the decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from careledger.access._policy import CARE_TEAM, Accessor, Decision
from careledger.audit import Access, Action, Outcome
from careledger.records import Category, StoredRecord

# A reader's decisions on one patient's versions, each by what it depends on besides her (`_read_key`).
Decided = Mapping[tuple[Category, str | None], Decision]

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


def page_entries(
    accessor: Accessor, interaction: str, decisions: Mapping[str, Decided], shown: Sequence[StoredRecord]
) -> tuple[list[Access], list[Access]]:
    """The audit entries of a page of a listing, as (disclosures, withholdings): a patient with versions in
    `shown` has one naming them (and what was withheld of hers); another has one only if something of hers was
    withheld, since the page disclosed nothing of hers, however much more of hers the listing matched."""
    on_page = by_patient(shown)
    disclosed: list[Access] = []
    withheld_only: list[Access] = []
    for patient, decided in decisions.items():
        told = decided if patient in on_page else {key: d for key, d in decided.items() if not d.allowed}
        if told:
            summary = _summary(told)
            detail = summary.why if summary.why != "allowed" else None
            entry = access_entry(accessor, interaction, patient, on_page.get(patient, []), summary, detail=detail)
            (disclosed if summary.allowed else withheld_only).append(entry)
    return disclosed, withheld_only


def _summary(decided: Decided) -> Decision:
    """One patient's decisions in a listing as the one its audit entry records: allowed if any is, naming what
    was withheld and why."""
    withheld = sorted({category.value for (category, _), d in decided.items() if not d.allowed})
    why = next((d.why for d in decided.values() if not d.allowed), "")
    care_team = any(d.care_team for d in decided.values())
    return Decision(
        allowed=any(d.allowed for d in decided.values()),
        why=f"withheld {', '.join(withheld)}: {why}" if withheld else CARE_TEAM if care_team else "allowed",
        break_glass=any(d.break_glass for d in decided.values()),
        care_team=care_team,
    )


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
