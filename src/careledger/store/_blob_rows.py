"""Blobs as rows of the node's database (PostgreSQL `bytea`, SQLite BLOB): one store every worker reaches.

A blob is one row named by its CID; `put_many` inserts its rows in one transaction, skipping those
already there (`ON CONFLICT DO NOTHING`), so a crash leaves all of them or none. Rows are never
updated, and every read checks the bytes against their CID.

The record service writes a blob, then commits the rows that name it. On PostgreSQL its store skips
the wait for the blob's commit to reach the disk (`synchronous_commit = off`, for that transaction
only): the rows' commit comes later in the same write-ahead log, and flushing it flushes everything
before it, the blob too. A crash between the two loses at most a blob nothing names yet, as before;
a write pays one flush instead of two.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select, text

from careledger.crypto import check_content_id, content_id
from careledger.errors import NotFound
from careledger.store._blobs import BlobStore, BlobStoreKind, BlobUsage, checked_cid
from careledger.store._database import Database, dialect_insert
from careledger.store.models import Blob

_BLOBS = cast("Table", Blob.__table__)
_DATA = select(_BLOBS.c.data).where(_BLOBS.c.cid == bindparam("cid"))
_HAS = select(_BLOBS.c.cid).where(_BLOBS.c.cid == bindparam("cid"))
_FLUSHED_BY_THE_NEXT_COMMIT = text("SET LOCAL synchronous_commit = off")
# Blob ids read (or deleted) per query: a page at a time; a listing keeps no transaction open meanwhile.
_PAGE = 1000


class DatabaseBlobStore(BlobStore):
    """Blobs in the `blobs` table of the node's database."""

    def __init__(self, db: Database, *, named_later: bool = False) -> None:
        """`named_later`: whoever puts a blob commits, in this database and afterwards, the rows that name it,
        which makes the blob durable with them (PostgreSQL: see the module's docstring)."""
        self._db = db
        self._lazy = named_later and db.backend == "postgresql"
        self._insert = dialect_insert(db.backend)(_BLOBS).on_conflict_do_nothing(index_elements=["cid"])

    @property
    def kind(self) -> BlobStoreKind:
        """`database`."""
        return "database"

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store several blobs in one transaction (those already there are left as they are); their CIDs."""
        cids = [content_id(data) for data in blobs]
        rows = {cid: data for cid, data in zip(cids, blobs, strict=True)}
        if rows:
            with self._db.writing() as connection:
                if self._lazy:
                    connection.execute(_FLUSHED_BY_THE_NEXT_COMMIT)
                connection.execute(self._insert, [{"cid": cid, "data": data} for cid, data in rows.items()])
        return cids

    def get(self, cid: str) -> bytes:
        """The bytes named `cid`; `IntegrityError` if the row no longer matches it."""
        with self._db.reading() as connection:
            found = connection.execute(_DATA, {"cid": checked_cid(cid)}).scalar()
        if found is None:
            raise NotFound(f"no blob {cid}")
        data = bytes(found)
        check_content_id(cid, data)
        return data

    def has(self, cid: str) -> bool:
        """Whether the blob `cid` is here."""
        with self._db.reading() as connection:
            return connection.execute(_HAS, {"cid": checked_cid(cid)}).first() is not None

    def remove(self, cids: Collection[str]) -> int:
        """Delete these blobs' rows; how many there were. On SQLite the freed pages are overwritten with zeros
        (`secure_delete`, for this transaction's connection), so a copy of the file does not hold them."""
        if not cids:
            return 0
        with self._db.writing() as connection:
            if self._db.backend == "sqlite":
                connection.execute(text("PRAGMA secure_delete = ON"))
            ids = sorted(cids)
            try:
                removed = sum(
                    connection.execute(delete(_BLOBS).where(_BLOBS.c.cid.in_(ids[at : at + _PAGE]))).rowcount
                    for at in range(0, len(ids), _PAGE)
                )
            finally:
                if self._db.backend == "sqlite":
                    connection.execute(text("PRAGMA secure_delete = OFF"))
        return removed

    def cids(self) -> Iterator[str]:
        """Every blob's id, in order, a page at a time."""
        after = ""
        while True:
            with self._db.reading() as connection:
                page = list(
                    connection.execute(
                        select(_BLOBS.c.cid).where(_BLOBS.c.cid > after).order_by(_BLOBS.c.cid).limit(_PAGE)
                    ).scalars()
                )
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1]

    def usage(self) -> BlobUsage:
        """How many rows, and the bytes of their blobs."""
        with self._db.reading() as connection:
            count, size = connection.execute(
                select(func.count(), func.coalesce(func.sum(func.length(_BLOBS.c.data)), 0))
            ).one()
        return BlobUsage(int(count), int(size))
