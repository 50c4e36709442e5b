"""The accounting of disclosures (HIPAA §164.528): who saw a patient's records, when, why, and who was refused.

It is itself a door: only the patient (or the wallet that claimed her identity, which signs
in as her) reads her accounting, and a refused look at someone else's is audited like any
other refusal.
"""

from __future__ import annotations

from careledger.access._policy import Accessor
from careledger.audit import Access, Action, AuditLog, Entry, Outcome
from careledger.errors import AccessDenied

MAX_PAGE = 500


class Disclosures:
    """Patients' accountings of disclosures, from this node's audit log."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def of(self, accessor: Accessor, patient: str, *, limit: int = 100, offset: int = 0) -> list[Entry]:
        """`patient`'s accounting, newest first, if `accessor` is she; else refused and audited."""
        if accessor.address.lower() != patient.lower():
            why = "a patient's accounting of disclosures is hers alone"
            self.audit.record(Access(Action.READ, "accounting", Outcome.DENIED, accessor.address, patient, detail=why))
            raise AccessDenied(why)
        return self.audit.entries(patient=patient, limit=min(limit, MAX_PAGE), offset=offset, newest_first=True)
