"""The accounting of disclosures (HIPAA §164.528): who saw a patient's records, when, why, and who was refused.

It is itself a door: only the patient (or the wallet that claimed her identity, which signs
in as her) reads her accounting, and a refused look at someone else's is audited like any
other refusal. Her break-glass windows come from the door's own record of them (reason
included, and the staff's verdict on each), not from a scan of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from careledger.access._break_glass import open_reason
from careledger.access._policy import Accessor
from careledger.audit import Access, Action, AuditLog, Entry, Outcome
from careledger.errors import AccessDenied
from careledger.store import Database, EmergencyAccess, EmergencyReview

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Emergency:
    """One break-glass window opened on a patient's records: by whom, why, when (recorded on chain in `block`), and
    what the staff's review found of it (None until it is reviewed)."""

    practitioner: str
    reason: str
    opened_at: datetime
    expires_at: datetime
    block: int
    verdict: str | None = None
    reviewed_at: datetime | None = None


class Disclosures:
    """Patients' accountings of disclosures, from this node's audit log and break-glass record."""

    def __init__(self, audit: AuditLog, db: Database) -> None:
        self.audit = audit
        self.db = db

    def of(self, accessor: Accessor, patient: str, *, limit: int = 100, offset: int = 0) -> list[Entry]:
        """`patient`'s accounting, newest first, if `accessor` is she; else refused and audited."""
        self._hers(accessor, patient, "accounting")
        return self.audit.entries(patient=patient, limit=min(limit, MAX_PAGE), offset=offset, newest_first=True)

    def emergencies(self, accessor: Accessor, patient: str) -> list[Emergency]:
        """The break-glass windows opened on `patient`'s records, newest first, if `accessor` is she."""
        self._hers(accessor, patient, "emergencies")
        query = (
            select(EmergencyAccess, EmergencyReview.verdict, EmergencyReview.reviewed_at)
            .outerjoin(EmergencyReview, EmergencyReview.emergency_id == EmergencyAccess.id)
            .where(EmergencyAccess.patient == patient)
            .order_by(EmergencyAccess.id.desc())
        )
        with self.db.session() as session:
            return [
                Emergency(
                    row.practitioner,
                    open_reason(self.audit, row.reason, row.practitioner, row.patient, row.salt),
                    _utc(row.opened_at),
                    _utc(row.expires_at),
                    row.block,
                    verdict,
                    None if reviewed_at is None else _utc(reviewed_at),
                )
                for row, verdict, reviewed_at in session.execute(query)
            ]

    def _hers(self, accessor: Accessor, patient: str, interaction: str) -> None:
        if accessor.address.lower() != patient.lower():
            why = "a patient's accounting of disclosures is hers alone"
            self.audit.record(Access(Action.READ, interaction, Outcome.DENIED, accessor.address, patient, detail=why))
            raise AccessDenied(why)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=moment.tzinfo or UTC)
