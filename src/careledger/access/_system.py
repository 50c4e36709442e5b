"""The named system repository: the node's own work on records (anchoring, storing what the exchange fetched,
claims and their adjudication, de-identified releases, device readings), audited as the node.

The policy does not judge it (the node is the custodian and may read and write what it keeps), but it is
still a door: every read of a patient's record and every write is audited with the node as actor, the
purpose of the work (an insurer's adjudication: HPAYMT) and the work's name, so each shows in the patient's
accounting of disclosures. It is built once in the composition root (`node.py`) and handed only to the
services that need it; the house rules keep its name out of everything else, the faces first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from careledger.access._entries import access_entry, by_patient, write_entries
from careledger.access._policy import Accessor, Decision
from careledger.audit import AuditLog
from careledger.consent import Purpose
from careledger.errors import Conflict
from careledger.records import AnchoredVersion, Draft, RecordService, Resource, SearchQuery, StoredRecord


class SystemRepository:
    """The node acting as itself for one named piece of work (`work`), for `purpose`."""

    def __init__(self, records: RecordService, audit: AuditLog, *, custodian: str, work: str, purpose: Purpose) -> None:
        self._records = records
        self._audit = audit
        self.custodian = custodian
        self.work = work
        self.purpose = purpose
        self._as = Accessor(custodian, purpose)
        self._allowed = Decision(True, "the custodian node")

    def for_purpose(self, purpose: Purpose) -> SystemRepository:
        """The same work done for another purpose (the exchange stores what it fetched for the request's)."""
        return SystemRepository(self._records, self._audit, custodian=self.custodian, work=self.work, purpose=purpose)

    # What the index knows: whose, which type and category, which version; nothing is decrypted.

    def get(self, record_id: str, version: int | None = None) -> StoredRecord:
        """One version's metadata (`UnknownRecord` if there is none)."""
        return self._records.get(record_id, version)

    def listing(self, *, limit: int | None = None, offset: int = 0, **criteria: str | None) -> list[StoredRecord]:
        """Current, undeleted records by type, ids or owner (`RecordService.list`)."""
        return self._records.list(limit=limit, offset=offset, **criteria)

    def versions(self, resource_type: str, *, limit: int) -> list[StoredRecord]:
        """The newest `limit` versions of a type, deletions included (`RecordService.versions`): what changed."""
        return self._records.versions(resource_type, limit=limit)

    def search(self, query: SearchQuery) -> list[StoredRecord]:
        """Current records matching `query`, from the index."""
        return self._records.search(query)

    def commitment_of(self, stored: StoredRecord) -> bytes:
        """The salted commitment other contracts (a claim) refer to a version by."""
        return self._records.commitment_of(stored)

    def anchored(self, versions: Sequence[StoredRecord]) -> list[AnchoredVersion]:
        """Versions anchored on chain, with their ciphertext and proof (sealed: nothing is decrypted). Whoever
        hands them on has had the disclosure decided and audited first (the exchange: the requester's `visible`)."""
        return self._records.anchored(versions)

    # Reads of content and writes: audited.

    def open(self, stored: StoredRecord) -> Resource:
        """One version decrypted; a patient's is audited as this work's read of it."""
        self.audit_reads([stored], "read")
        return self._records.open(stored)

    def audit_reads(self, versions: Sequence[StoredRecord], interaction: str) -> None:
        """Record that this work read `versions` (one entry per patient; the node's own resources are no one's):
        what `open` does, for a collaborator that decrypts them itself (verification)."""
        self._audit.record_all(
            [
                access_entry(self._as, interaction, patient, mine, self._allowed, detail=self.work)
                for patient, mine in by_patient(versions).items()
                if patient != self.custodian
            ]
        )

    @staticmethod
    def prepare(body: bytes | str | Resource, *, patient_address: str | None = None) -> Draft:
        """`body` validated and given an id, to `write` or `store`."""
        return RecordService.prepare(body, patient_address=patient_address)

    def write(self, body: bytes | str | Resource | Draft, *, patient_address: str | None = None) -> StoredRecord:
        """Store one record as the node; its audit entry is committed with it."""
        draft = body if isinstance(body, Draft) else self.prepare(body, patient_address=patient_address)
        return self._records.write(replace(draft, author=self.custodian), also=self._audit_writes)

    def store(self, drafts: Sequence[Draft], *, fresh: bool = False) -> list[StoredRecord]:
        """Drafts stored all or none as the node, audited in the same transaction; `fresh`: as new records only,
        `Conflict` if one is here already (or is stored by another writer at the same time)."""
        authored = [replace(d, author=self.custodian) for d in drafts]
        return self._records.store(authored, check=_new_only if fresh else None, also=self._audit_writes)

    def _audit_writes(self, session: Session, stored: list[StoredRecord]) -> None:
        self._audit.append(session, write_entries(self._as, stored, self._allowed, detail=self.work))


def _new_only(current: StoredRecord | None, new: StoredRecord) -> None:
    """Refuse a version that is not a record's first."""
    if current is not None:
        raise Conflict(f"{new.resource_type}/{new.record_id} is here already")
