"""Records a write names (the Patient it is filed under, the records a Provenance is about) are known only to
one who may read them.

A record is filed under the Patient it names, and a Provenance under the patient whose records it is about
(`records.records_about`), so a write's answer could tell whether a guessed id exists and whose it is. The door
judges each such record as the writer's read of it (`Repository._judge_read`, audited), one that opens no
break-glass window (`Repository._quiet`: that is an explicit read, never a write's side effect): one she may not
read and one that does not exist are refused alike, in the words and at the cost of one not here. A Provenance's targets
are judged before the record service says anything of whose they are (404, `no record <id>`); the Patient only
once the write failed (it names one not here, or the policy refused it: 400, `… refers to Patient/<id>, which
this node does not hold`), so an allowed write costs no extra read, and a writer who may write for a patient
without reading her Patient (a device, whose consent names vitals) is not refused for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from careledger.access._entries import access_entry, write_interaction
from careledger.access._policy import Accessor, Decision
from careledger.audit import Access
from careledger.errors import AccessDenied, CareLedgerError, PatientWithheld, UnheldPatient, UnknownRecord
from careledger.records import Draft, StoredRecord, patient_reference, records_about


class WriteRefused(AccessDenied):
    """The policy refused a version; carries it, so the refusal is audited against the record."""

    def __init__(self, why: str, new: StoredRecord) -> None:
        super().__init__(why)
        self.new = new


# The door's read of an id (its current version): the version, or None if unknown; the decision; its audit entry.
Judge = Callable[[str, None], tuple[StoredRecord | None, Decision, Access]]
# Writes audit entries durably, in one commit.
Record = Callable[[Sequence[Access]], object]


def _known(record_id: str, kind: str, judge: Judge) -> tuple[bool, Access]:
    """Whether the writer may know of a record her write names, judged as her read of it, and that read's audit
    entry: not if it is not here, is not a `kind`, or she may not read it, all alike."""
    stored, decision, entry = judge(record_id, None)
    return stored is not None and decision.allowed and stored.resource_type == kind, entry


def about_readable(drafts: Sequence[Draft], judge: Judge, record: Record) -> None:
    """Refuse drafts about a record the writer may not read, as an unknown id is (`UnknownRecord`), whether it is
    withheld, of another type or not here. A record the same write stores is judged as that write. Every other is
    judged, and their reads audited in one commit, before any is refused."""
    written = {(str(draft.data["resourceType"]), draft.record_id) for draft in drafts}
    entries: list[Access] = []
    unknown: list[str] = []
    for draft in drafts:
        for kind, record_id in records_about(draft.data):
            if (kind, record_id) in written:
                continue
            known, entry = _known(record_id, kind, judge)
            entries.append(entry)
            if not known:
                unknown.append(record_id)
    record(entries)  # one audit commit, however many targets
    if unknown:
        raise UnknownRecord(unknown[0])


def refusal_told(
    accessor: Accessor, failed: WriteRefused | UnheldPatient, drafts: Sequence[Draft], judge: Judge, record: Record
) -> CareLedgerError:
    """What a write of `drafts` that failed answers, audited: `failed` names a Patient not here (`UnheldPatient`),
    or is the policy's refusal of `refused`, the version it would have stored (audited against it, raised as
    `AccessDenied`). The Patient a failed draft is filed under is judged as the writer's read first: one she may
    not read is told as one not here (`PatientWithheld`, still a refusal to those who act on refusals: the device
    recorder drops the readings of a revoked binding). Either way one entry is written, the refusal's or, for a
    Patient not here, that read's, so a withheld id and an unknown one cost one audit commit alike. Only a
    Patient a draft names and the write does not store is judged; a refusal of anything else tells of none."""
    entries: list[Access] = []
    refused = failed.new if isinstance(failed, WriteRefused) else None
    patient = failed.patient_id if isinstance(failed, UnheldPatient) else None
    if refused is not None:
        why = Decision(False, str(failed))
        entries = [access_entry(accessor, write_interaction([refused]), refused.patient_address, [refused], why)]
        patient = refused.patient_id
    named = {patient_reference(draft.data) for draft in drafts} - {draft.record_id for draft in drafts}
    known = True
    if patient is not None and patient in named:
        known, read = _known(patient, "Patient", judge)
        entries = entries or [read]  # one entry either way: a refused write's, else the read of an id not here
    record(entries)
    if refused is None:
        return failed
    return AccessDenied(str(failed)) if known else PatientWithheld(refused.resource_type, str(patient))
