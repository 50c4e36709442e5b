"""Whose coverage a caller may see: the members behind Patient records, judged by the policy and audited.

A Coverage or an eligibility answer is not a record but the chain's enrolment of the patient a Patient record
here names, and its reader may be one who may not read that record (her insurer). So a Patient's id is
resolved to its owner from the index alone (nothing is decrypted); a caller who could see the coverage of
none of the patients the node knows of her (`coverage_patients`: no consent, no claim to her insurer, not the
care team; for a proxy's token, none outside the compartment it acts for) is refused there, before the chain is
asked, so an unknown id and a refused one cost the same.
For the others the chain says who insures her and the policy whether the caller may see her coverage
(`may_see_coverage`). Each answer is audited as a disclosure of her coverage; a refusal is audited for the
patients the caller named, never for those a search merely passed over; a patient refused and one not
enrolled (or not here) are left out alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from careledger.access._compartment import outside_compartment, within_compartment
from careledger.access._entries import access_entry
from careledger.access._facts import PolicyFacts
from careledger.access._policy import Accessor, Decision, coverage_patients, may_read, may_see_coverage
from careledger.audit import Access, AuditLog
from careledger.records import Category, RecordService, SearchQuery


@dataclass(frozen=True, slots=True)
class Member:
    """A patient here enrolled in a plan: her Patient record's id, her address and her plan's insurer."""

    patient_id: str
    address: str
    insurer: str


Members = tuple[list[Member], int]  # a page of members, and how many there are in all


def members_seen(
    accessor: Accessor,
    records: RecordService,
    audit: AuditLog,
    facts: PolicyFacts,
    patient_ids: Sequence[str] | None,
    interaction: str,
    page: slice = slice(None),
) -> Members:
    """The `page` of the members behind `patient_ids` (None: every Patient here whose coverage the caller could
    see) whose coverage `accessor` may see, in the index's order, and how many there are in all; an audit entry
    per patient on the page, and per patient named and refused (written off the answer's path)."""
    candidates = within_compartment(accessor, coverage_patients(accessor, facts), facts.custodian)
    if patient_ids is None:
        query = SearchQuery(resource_type="Patient", patients=candidates)
    else:
        query = SearchQuery(resource_type="Patient", record_ids=tuple(patient_ids))
    seen: list[tuple[Member, Decision]] = []
    withheld: list[Access] = []
    for patient in records.search(query):
        address = patient.patient_address
        if candidates is not None and address not in candidates:
            refused = outside_compartment(accessor, address, facts.custodian)  # the reason, without the chain
            decision = refused or may_read(accessor, address, Category.BILLING, facts)
        elif (insurer := facts.insurer(address)) is None:
            continue
        elif (decision := may_see_coverage(accessor, address, insurer, facts)).allowed:
            seen.append((Member(patient.record_id, address, insurer), decision))
            continue
        if patient_ids is not None:
            withheld.append(_entry(accessor, interaction, patient.record_id, address, decision))
    shown = seen[page]
    audit.record_all([_entry(accessor, interaction, m.patient_id, m.address, decision) for m, decision in shown])
    audit.record_later(withheld)
    return [member for member, _ in shown], len(seen)


def _entry(accessor: Accessor, interaction: str, patient_id: str, address: str, decision: Decision) -> Access:
    """The audit entry of one patient's coverage, shown or withheld."""
    entity = f"Coverage?beneficiary=Patient/{patient_id}"
    return access_entry(accessor, interaction, address, [], decision, entities=[entity])
