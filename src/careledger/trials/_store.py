"""The trials' rows on this node: a sponsor's sealed seeds, the definitions held, a site's visits, the safety reports
received (the tables of `careledger.store._trial_models`).

Secrets are sealed here, under the node's key-encryption key, each bound to what it is (AAD: kind and trial id), so
a seed cannot be passed off as another trial's, nor a report as another's; a copy of the database holds no seed and
no report in the clear. Nothing here names a patient: a visit is keyed by the participant's commitment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from careledger.crypto import AtRestKey, canonical_json, keccak
from careledger.store import Database, TrialDefinition, TrialSafetyReport, TrialSeed, TrialVisit

_SEED_AAD = b"careledger/trial-seed/v1\x00"
_REPORT_AAD = b"careledger/trial-safety-report/v1\x00"


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """A visit of a participant at this site: its CRF's record (id, current version), whether that version is
    complete, and its payment (None: not paid yet)."""

    trial_id: int
    participant: bytes
    visit: int
    record_id: str
    record_version: int
    complete: bool
    paid_tx: str | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    """A safety report this node received: from which site, when, and the report itself."""

    trial_id: int
    site: str
    received: datetime
    report: dict[str, Any]


class TrialStore:
    """Seeds, definitions, visits and safety reports in the node's database."""

    def __init__(self, db: Database, key: Callable[[], AtRestKey], *, clock: Callable[[], datetime] | None = None):
        """`key()`: the node's key-encryption key (the vault opened only when a seed or report is sealed or read)."""
        self._db = db
        self._key = key
        self._clock = clock or (lambda: datetime.now(UTC))

    # Seeds ------------------------------------------------------------------------------

    def keep_seed(self, trial_id: int, sponsor: str, seed: bytes) -> None:
        """Keep `seed` for trial `trial_id` (sealed), replacing one kept before its commitment reached the chain."""
        sealed = self._key().seal(seed, _SEED_AAD + str(trial_id).encode())
        with self._db.session() as session:
            session.merge(TrialSeed(trial_id=trial_id, sponsor=sponsor, sealed=sealed, created=self._clock()))

    def seed(self, trial_id: int) -> bytes | None:
        """Trial `trial_id`'s seed, opened; None if this node keeps none."""
        with self._db.session() as session:
            row = session.get(TrialSeed, trial_id)
            sealed = None if row is None else bytes(row.sealed)
        return None if sealed is None else self._key().open(sealed, _SEED_AAD + str(trial_id).encode())

    # Definitions ------------------------------------------------------------------------

    def keep_definition(self, trial_id: int, version: int, document: bytes) -> None:
        """Keep version `version` of a trial's definition (the same bytes again change nothing)."""
        with self._db.session() as session:
            if session.get(TrialDefinition, (trial_id, version)) is None:
                session.add(
                    TrialDefinition(trial_id=trial_id, version=version, document=document, created=self._clock())
                )

    def definition(self, trial_id: int, version: int) -> bytes | None:
        """A version's definition document; None if it is not held here."""
        with self._db.session() as session:
            row = session.get(TrialDefinition, (trial_id, version))
            return None if row is None else bytes(row.document)

    # Visits -----------------------------------------------------------------------------

    def keep_visit(self, visit: VisitRecord) -> None:
        """Record a visit's CRF version (a first entry or a correction), its payment left as it was."""
        with self._db.session() as session:
            row = session.get(TrialVisit, (visit.trial_id, visit.participant, visit.visit))
            if row is None:
                session.add(
                    TrialVisit(
                        trial_id=visit.trial_id,
                        participant=visit.participant,
                        visit=visit.visit,
                        record_id=visit.record_id,
                        record_version=visit.record_version,
                        complete=visit.complete,
                    )
                )
            else:
                row.record_id, row.record_version, row.complete = visit.record_id, visit.record_version, visit.complete

    def visit(self, trial_id: int, participant: bytes, visit: int) -> VisitRecord | None:
        """One visit's row; None if its CRF was never entered here."""
        with self._db.session() as session:
            row = session.get(TrialVisit, (trial_id, participant, visit))
            return None if row is None else _visit(row)

    def visits(self, trial_id: int | None = None, *, unpaid: bool = False) -> list[VisitRecord]:
        """The visits entered here (of one trial, if given; only those not paid yet, if `unpaid`), by trial,
        participant and visit number."""
        query = select(TrialVisit)
        if trial_id is not None:
            query = query.where(TrialVisit.trial_id == trial_id)
        if unpaid:
            query = query.where(TrialVisit.paid_tx.is_(None))
        query = query.order_by(TrialVisit.trial_id, TrialVisit.participant, TrialVisit.visit)
        with self._db.session() as session:
            return [_visit(row) for row in session.scalars(query)]

    def paid(self, trial_id: int, participant: bytes, visit: int, tx_hash: str) -> None:
        """Mark a visit paid by the transaction `tx_hash`."""
        statement = (
            update(TrialVisit)
            .where(TrialVisit.trial_id == trial_id, TrialVisit.participant == participant, TrialVisit.visit == visit)
            .values(paid_tx=tx_hash, paid_at=self._clock())
        )
        with self._db.session() as session:
            session.execute(statement)

    # Safety reports ---------------------------------------------------------------------

    def keep_report(self, trial_id: int, site: str, report: dict[str, Any]) -> bool:
        """Keep a safety report `site` sent (sealed); False if this node holds it already (a delivery again)."""
        body = canonical_json(report)
        digest = keccak(body)
        sealed = self._key().seal(body, _REPORT_AAD + digest)
        row = TrialSafetyReport(trial_id=trial_id, site=site, digest=digest, sealed=sealed, received=self._clock())
        try:
            with self._db.session() as session:
                session.add(row)
        except DBIntegrityError:
            return False
        return True

    def reports(self, trial_id: int) -> list[ReceivedReport]:
        """The safety reports of a trial received here, oldest first, opened."""
        query = select(TrialSafetyReport).where(TrialSafetyReport.trial_id == trial_id).order_by(TrialSafetyReport.id)
        with self._db.session() as session:
            rows = [(r.site, r.received, bytes(r.digest), bytes(r.sealed)) for r in session.scalars(query)]
        key = self._key()
        return [
            ReceivedReport(trial_id, site, received, json.loads(key.open(sealed, _REPORT_AAD + digest)))
            for site, received, digest, sealed in rows
        ]


def _visit(row: TrialVisit) -> VisitRecord:
    return VisitRecord(
        row.trial_id,
        bytes(row.participant),
        row.visit,
        row.record_id,
        row.record_version,
        row.complete,
        row.paid_tx,
        row.paid_at,
    )
