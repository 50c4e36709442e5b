"""The trials' rows on this node: a sponsor's sealed seeds, the definitions held, a site's visits, the safety reports
received (the tables of `careledger.store._trial_models`).

Secrets are sealed here, under the node's key-encryption key, each bound to what it is (AAD: kind and trial id), so
a seed cannot be passed off as another trial's, nor a report as another's; a copy of the database holds no seed and
no report in the clear. Nothing here names a patient: a visit is keyed by the participant's commitment, and its
CRF's record id and version are sealed with a fresh salt per version (AAD: trial, participant, visit); what is
anchored and paid for is the visit leaf keccak256(salt ‖ the version's commitment), which no one without the salt
can match to a record.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from careledger.crypto import AtRestKey, canonical_json, keccak
from careledger.store import (
    AnchorBatch,
    Database,
    TrialDefinition,
    TrialDraft,
    TrialSafetyReport,
    TrialSeed,
    TrialVisit,
)

_SEED_AAD = b"careledger/trial-seed/v1\x00"
_REPORT_AAD = b"careledger/trial-safety-report/v1\x00"
_VISIT_AAD = b"careledger/trial-visit/v1\x00"


@dataclass(frozen=True, slots=True)
class VisitLeaf:
    """A visit's leaf as kept, and once its batch is anchored on chain, that batch's root and the leaf's Merkle
    proof: what `Trials.pay_visit` is given."""

    leaf: bytes
    root: bytes | None = None  # None: not anchored yet
    proof: tuple[bytes, ...] = ()

    @property
    def anchored(self) -> bool:
        """Whether its batch is on chain (the payment may be asked for)."""
        return self.root is not None


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """A visit of a participant at this site: its CRF's record (id, current version), whether that version is
    complete, and its payment (None: not paid yet). `leaf`: the visit leaf of that version as kept (None in a
    record not kept yet: `keep_visit` draws it)."""

    trial_id: int
    participant: bytes
    visit: int
    record_id: str
    record_version: int
    complete: bool
    paid_tx: str | None = None
    paid_at: datetime | None = None
    leaf: VisitLeaf | None = None


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    """A safety report this node received: from which site, when, and the report itself."""

    trial_id: int
    site: str
    received: datetime
    report: dict[str, Any]


class TrialStore:
    """Seeds, definitions, visits and safety reports in the node's database."""

    def __init__(
        self,
        db: Database,
        key: Callable[[], AtRestKey],
        commitment: Callable[[str, int], bytes],
        *,
        clock: Callable[[], datetime] | None = None,
    ):
        """`key()`: the node's key-encryption key (the vault opened only when a seed, report or visit is sealed or
        read); `commitment(record_id, version)`: a record version's commitment (the system repository's), which a
        visit leaf hides under its salt."""
        self._db = db
        self._key = key
        self._commitment = commitment
        self._clock = clock or (lambda: datetime.now(UTC))

    # Seeds ------------------------------------------------------------------------------

    def keep_seed(self, trial_id: int, sponsor: str, seed: bytes) -> None:
        """Keep `seed` for trial `trial_id` (sealed, by its hash), beside any drawn before: whichever commitment the
        chain takes, its seed is here."""
        sealed = self._key().seal(seed, _SEED_AAD + str(trial_id).encode())
        row = TrialSeed(
            trial_id=trial_id, seed_hash=keccak(seed), sponsor=sponsor, sealed=sealed, created=self._clock()
        )
        with self._db.session() as session:
            session.add(row)

    def seed(self, trial_id: int, seed_hash: bytes) -> bytes | None:
        """The seed of trial `trial_id` whose keccak256 is `seed_hash` (the chain's), opened; None if none is kept."""
        with self._db.session() as session:
            row = session.get(TrialSeed, (trial_id, seed_hash))
            sealed = None if row is None else bytes(row.sealed)
        return None if sealed is None else self._key().open(sealed, _SEED_AAD + str(trial_id).encode())

    # Definitions ------------------------------------------------------------------------

    def keep_draft(self, document: bytes) -> None:
        """Keep a definition document before the transaction that registers or amends it, by its keccak256."""
        with self._db.session() as session:
            if session.get(TrialDraft, keccak(document)) is None:
                session.add(TrialDraft(digest=keccak(document), document=document, created=self._clock()))

    def draft(self, digest: bytes) -> bytes | None:
        """The draft whose keccak256 is `digest` (a version's protocol hash); None if none is kept."""
        with self._db.session() as session:
            row = session.get(TrialDraft, digest)
            return None if row is None else bytes(row.document)

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
        """Record a visit's CRF version (a first entry or a correction), its payment left as it was. A version not
        kept before gets a fresh salt and visit leaf, waiting for its anchor; the same version again changes only
        whether it is complete."""
        key = (visit.trial_id, visit.participant, visit.visit)
        with self._db.session() as session:
            row = session.get(TrialVisit, key)
            if row is not None and self._opened(row)[:2] == (visit.record_id, visit.record_version):
                row.complete = visit.complete
                return
            salt = secrets.token_bytes(32)
            reference = {"record": visit.record_id, "version": visit.record_version, "salt": salt.hex()}
            sealed = self._key().seal(canonical_json(reference), _visit_aad(*key))
            fresh = {
                "sealed": sealed,
                "leaf": keccak(salt + self._commitment(visit.record_id, visit.record_version)),
                "complete": visit.complete,
                "entered": self._clock(),
                "batch_id": None,
                "leaf_index": None,
                "proof": None,
            }
            if row is None:
                session.add(TrialVisit(trial_id=key[0], participant=key[1], visit=key[2], **fresh))
            else:
                for column, value in fresh.items():
                    setattr(row, column, value)

    def visit(self, trial_id: int, participant: bytes, visit: int) -> VisitRecord | None:
        """One visit's row, opened; None if its CRF was never entered here."""
        query = _visit_rows().where(
            TrialVisit.trial_id == trial_id, TrialVisit.participant == participant, TrialVisit.visit == visit
        )
        with self._db.session() as session:
            found = session.execute(query).first()
            return None if found is None else self._visit(found[0], found[1])

    def visits(self, trial_id: int | None = None, *, unpaid: bool = False) -> list[VisitRecord]:
        """The visits entered here (of one trial, if given; only those not paid yet, if `unpaid`), by trial,
        participant and visit number, opened."""
        query = _visit_rows()
        if trial_id is not None:
            query = query.where(TrialVisit.trial_id == trial_id)
        if unpaid:
            query = query.where(TrialVisit.paid_tx.is_(None))
        query = query.order_by(TrialVisit.trial_id, TrialVisit.participant, TrialVisit.visit)
        with self._db.session() as session:
            return [self._visit(found[0], found[1]) for found in session.execute(query)]

    def _opened(self, row: TrialVisit) -> tuple[str, int, bytes]:
        """A row's sealed CRF reference: record id, version, visit salt."""
        opened = json.loads(
            self._key().open(bytes(row.sealed), _visit_aad(row.trial_id, bytes(row.participant), row.visit))
        )
        return str(opened["record"]), int(opened["version"]), bytes.fromhex(opened["salt"])

    def _visit(self, row: TrialVisit, root: bytes | None) -> VisitRecord:
        record_id, version, _ = self._opened(row)
        proof = () if root is None else tuple(bytes.fromhex(node[2:]) for node in json.loads(row.proof or "[]"))
        leaf = VisitLeaf(bytes(row.leaf), None if root is None else bytes(root), proof)
        return VisitRecord(
            row.trial_id,
            bytes(row.participant),
            row.visit,
            record_id,
            version,
            row.complete,
            row.paid_tx,
            row.paid_at,
            leaf,
        )

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


def _visit_rows() -> Select[TrialVisit, bytes]:
    """Visit rows with the root of their batch once it is anchored (NULL: waiting, or its batch only prepared)."""
    anchored = (AnchorBatch.id == TrialVisit.batch_id) & (AnchorBatch.status == "anchored")
    return select(TrialVisit, AnchorBatch.root).outerjoin(AnchorBatch, anchored)


def _visit_aad(trial_id: int, participant: bytes, visit: int) -> bytes:
    """What a visit's sealed reference is bound to: its trial, participant and visit number."""
    return _VISIT_AAD + trial_id.to_bytes(32, "big") + participant + visit.to_bytes(4, "big")
