"""Erasure by key destruction: every version of a record made unreadable for good, a marker left in its place.

```
record ids ─► every version: sealed data keys, content id and salt wiped, marked deleted ─┐ one transaction
          ─► search tokens deleted ─► erased_records marker (when, at which request)   ─┘ (SQLite: secure_delete)
          ─► blobs removed from every store ─► SQLite: write-ahead log checkpointed and truncated
```

What stays is each version row's metadata (type, owner, number, time) and its commitment with its anchor: the
commitment on chain was salted, and with the salt and the content id gone it links to nothing. The data keys go
first, in the transaction: from its commit on, no copy of a ciphertext (a blob a crash left behind, a backup's)
opens. Which records may be erased, and who asked, is the erasure service's (`careledger.erasure`); this module
is the record repository's part, the only one that touches rows, tokens and blobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from careledger.records._categories import Category
from careledger.records._erased import MARKED, MARKS, ErasureMark, erasure_mark, mark_of
from careledger.records._service import RecordService
from careledger.records._stored import COLUMNS
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS, BlobStore, Database, secure_delete

_NO_SALT = bytes(32)  # what a wiped salt reads as: the column is never empty
_CHUNK = 500  # record ids per statement (SQLite takes a few thousand parameters at most)


@dataclass(frozen=True, slots=True)
class ErasableRecord:
    """One record of a patient's, as erasure sees it: what it is, how many versions, when it last changed."""

    record_id: str
    resource_type: str
    category: Category
    versions: int
    last_updated: datetime  # its newest version's
    deleted: bool  # its newest version is a deletion (the earlier ones still open)


class RecordEraser:
    """Destroys records of one node's repository: their keys, blobs and tokens, in every blob store it has."""

    def __init__(
        self, records: RecordService, blob_stores: Sequence[BlobStore], *, clock: Callable[[], float] = time.time
    ) -> None:
        """`blob_stores`: every store a blob of the node's may be in (the configured one, and the other, which a
        move between them leaves as it was)."""
        self._records = records
        self._db: Database = records.db
        self._stores = blob_stores
        self._clock = clock

    def records_of(self, patient: str, record_ids: Collection[str] | None = None) -> list[ErasableRecord]:
        """Every record of `patient` here not erased yet (deleted ones too: their earlier versions still open), or
        those of them among `record_ids`, oldest first."""
        query = (
            select(
                COLUMNS.record_id,
                COLUMNS.version,
                COLUMNS.resource_type,
                COLUMNS.category,
                COLUMNS.last_updated,
                COLUMNS.deleted,
            )
            .where(COLUMNS.patient_address == patient, COLUMNS.record_id.not_in(select(MARKS.record_id)))
            .order_by(COLUMNS.record_id, COLUMNS.version)
        )
        rows = []
        with self._db.reading() as connection:
            if record_ids is None:
                rows = list(connection.execute(query))
            else:
                for chunk in _chunks(sorted(set(record_ids))):
                    rows.extend(connection.execute(query.where(COLUMNS.record_id.in_(chunk))))
        found: dict[str, ErasableRecord] = {}
        for row in rows:  # ordered by version: the last one seen of a record is its newest
            changed = row.last_updated.replace(tzinfo=row.last_updated.tzinfo or UTC)
            category = self._records.index.category_of(row.record_id, row.version, row.category)
            versions = found[row.record_id].versions + 1 if row.record_id in found else 1
            found[row.record_id] = ErasableRecord(
                row.record_id, row.resource_type, category, versions, changed, bool(row.deleted)
            )
        return sorted(found.values(), key=lambda record: (record.last_updated, record.record_id))

    def mark(self, record_id: str) -> ErasureMark | None:
        """The marker of an erased record; None if it was not erased."""
        with self._db.reading() as connection:
            return erasure_mark(connection, record_id)

    def marks(self, patient: str) -> list[ErasureMark]:
        """The markers of `patient`'s records erased here, oldest first."""
        query = select(MARKED).where(MARKS.patient == patient).order_by(MARKS.erased_at, MARKS.record_id)
        with self._db.reading() as connection:
            return [mark_of(row) for row in connection.execute(query)]

    def erase(
        self,
        patient: str,
        record_ids: Collection[str],
        *,
        request: str,
        also: Callable[[Session], None] | None = None,
    ) -> int:
        """Erase every version of these records of `patient`'s (others' are not touched), in one transaction with
        `also`'s writes (the audit entry); then their blobs, everywhere. How many versions were erased."""
        ids = sorted(set(record_ids))
        cids: list[str] = []
        versions = 0
        with self._db.session() as session, secure_delete(session, self._db.backend):
            counted: dict[str, int] = {}
            for chunk in _chunks(ids):
                mine = (COLUMNS.patient_address == patient, COLUMNS.record_id.in_(chunk))
                for record_id, cid in session.execute(select(COLUMNS.record_id, COLUMNS.cid).where(*mine)):
                    counted[record_id] = counted.get(record_id, 0) + 1
                    if cid is not None:
                        cids.append(cid)
                session.execute(
                    update(RECORD_VERSIONS).where(*mine).values(sealed_keys=None, cid=None, salt=_NO_SALT, deleted=True)
                )
            for chunk in _chunks(sorted(counted)):  # the ids found hers: another's record named keeps its tokens
                session.execute(delete(RECORD_TOKENS).where(RECORD_TOKENS.c.record_id.in_(chunk)))
            now = self._clock()
            marks = [
                {"record_id": rid, "patient": patient, "versions": n, "request": request, "erased_at": now}
                for rid, n in counted.items()
            ]
            if marks:
                session.execute(insert(MARKED), marks)
            versions = sum(counted.values())
            if also is not None:
                also(session)
        for store in self._stores:
            store.remove(cids)
        self._records._sealer.forget_data_keys()  # none of their data keys outlives them in this process
        self._scrub()
        return versions

    def _scrub(self) -> None:
        """SQLite: fold the write-ahead log into the database file and truncate it, so the pages as they were
        before the erasure (keys in them) are not left in the log. (PostgreSQL: see docs/erasure.md.)"""
        if self._db.backend == "sqlite":
            with self._db.writing() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])
