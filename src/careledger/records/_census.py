"""How many records this node holds and wrote, by consent category, read from the rows and nothing opened (the
categories of data of a compliance report's records of processing). A row's category is a keyed tag
(`_blind_index`): the record service's index key tells each one."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, tuple_

from careledger.records._service import RecordService
from careledger.store import RECORD_VERSIONS

_COLUMNS = RECORD_VERSIONS.c
_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class CategoryCounts:
    """Records by category: those held now (current, neither deleted nor erased), and the versions written in a
    period (creates, updates and deletes alike)."""

    held: dict[str, int]
    written: dict[str, int]


def category_counts(records: RecordService, since: datetime, until: datetime) -> CategoryCounts:
    """The records held now by category, and the versions written from `since` until before `until`."""
    held = _count(records, _COLUMNS.is_current.is_(True), _COLUMNS.deleted.is_(False))
    written = _count(
        records, _COLUMNS.last_updated >= since.astimezone(UTC), _COLUMNS.last_updated < until.astimezone(UTC)
    )
    return CategoryCounts(held, written)


def _count(records: RecordService, *where: ColumnElement[bool]) -> dict[str, int]:
    """The versions `where` picks, by category, a chunk of rows at a time."""
    counts: Counter[str] = Counter()
    after: tuple[str, int] = ("", 0)
    columns = (_COLUMNS.record_id, _COLUMNS.version, _COLUMNS.category)
    while True:
        query = (
            select(*columns)
            .where(*where, tuple_(_COLUMNS.record_id, _COLUMNS.version) > tuple_(*after))
            .order_by(_COLUMNS.record_id, _COLUMNS.version)
            .limit(_CHUNK)
        )
        with records.db.reading() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return dict(sorted(counts.items()))
        counts.update(records.index.category_of(rid, version, tag).value for rid, version, tag in rows)
        after = (rows[-1][0], rows[-1][1])
