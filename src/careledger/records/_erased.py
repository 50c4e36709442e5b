"""What is left of an erased record besides its version rows: its marker (whose, how many versions, when, at which
request), and what a reader of one of its versions is told: that it was erased, not deleted.

The markers are written by `_erasure`'s `RecordEraser`; read here, by the record service (a read of an erased
version), its verification (`_verify`: "erased", not "tampered") and the eraser itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, select

from careledger.errors import Gone
from careledger.records._stored import StoredRecord
from careledger.store import Database, ErasedRecord

MARKED = cast("Table", ErasedRecord.__table__)
MARKS = MARKED.c


@dataclass(frozen=True, slots=True)
class ErasureMark:
    """What is left of an erased record besides its version rows: whose, how many versions, when, which request."""

    record_id: str
    patient: str
    versions: int
    request: str
    erased_at: datetime


def erasure_mark(connection: Connection, record_id: str) -> ErasureMark | None:
    """The marker of an erased record, read on `connection`; None if it was not erased."""
    row = connection.execute(select(MARKED).where(MARKS.record_id == record_id)).first()
    return None if row is None else mark_of(row)


def mark_of(row: Row[Any]) -> ErasureMark:
    """A marker's row, read."""
    erased_at = datetime.fromtimestamp(row.erased_at, UTC)
    return ErasureMark(row.record_id, row.patient, row.versions, row.request, erased_at)


def gone(db: Database, stored: StoredRecord) -> Gone:
    """Why a deleted version does not open: its record was erased (when), or the version is a deletion (or one
    before it was). Asked only of a deleted version, so a read of a live one costs nothing more."""
    with db.reading() as connection:
        mark = erasure_mark(connection, stored.record_id)
    name = f"{stored.resource_type}/{stored.record_id}"
    if mark is None:
        return Gone(f"{name} was deleted in version {stored.version}")
    return Gone(f"{name} was erased on {mark.erased_at:%Y-%m-%d %H:%M:%S} UTC: its content is destroyed")
