"""Whose coverage a caller may see: the members behind Patient records, judged by the policy and audited.

A Coverage or an eligibility answer is not a record but the chain's enrolment of the patient a Patient record
here names, and its reader may be one who may not read that record (her insurer). So a Patient's id is
resolved to its owner from the index alone (nothing is decrypted), the chain says who insures her, the policy
whether the caller may see her coverage (`may_see_coverage`), and each answer is audited as a disclosure of
her coverage; a patient refused and one not enrolled (or not here) are left out alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from careledger.access._entries import access_entry
from careledger.access._facts import PolicyFacts
from careledger.access._policy import Accessor, coverage_patients, may_see_coverage
from careledger.audit import Access, AuditLog
from careledger.records import RecordService, SearchQuery


@dataclass(frozen=True, slots=True)
class Member:
    """A patient here enrolled in a plan: her Patient record's id, her address and her plan's insurer."""

    patient_id: str
    address: str
    insurer: str


def members_seen(
    accessor: Accessor,
    records: RecordService,
    audit: AuditLog,
    facts: PolicyFacts,
    patient_ids: Sequence[str] | None,
    interaction: str,
) -> list[Member]:
    """The members behind `patient_ids` (None: every Patient here, of those `coverage_patients` names) whose
    coverage `accessor` may see, in the index's order; an audit entry per patient, what was withheld written off
    the answer's path."""
    if patient_ids is None:
        query = SearchQuery(resource_type="Patient", patients=coverage_patients(accessor, facts))
    else:
        query = SearchQuery(resource_type="Patient", record_ids=tuple(patient_ids))
    shown: list[Member] = []
    disclosed: list[Access] = []
    withheld: list[Access] = []
    for patient in records.search(query):
        insurer = facts.insurer(patient.patient_address)
        if insurer is None:
            continue
        decision = may_see_coverage(accessor, patient.patient_address, insurer, facts)
        entity = f"Coverage?beneficiary=Patient/{patient.record_id}"
        entry = access_entry(accessor, interaction, patient.patient_address, [], decision, entities=[entity])
        (disclosed if decision.allowed else withheld).append(entry)
        if decision.allowed:
            shown.append(Member(patient.record_id, patient.patient_address, insurer))
    audit.record_all(disclosed)
    audit.record_later(withheld)
    return shown
