"""Choosing a node's blob store, and moving its blobs from one store to the other.

```
source.cids() ─page─► missing in target? ─► source.get (checked) ─► target.put_many ─► target.get (checked)
```

A move is resumable: each page is written whole before the next is read, and a blob already in the
target is not written again, so a move cut short (a crash, Ctrl-C) is finished by running it again.
Neither store ever shows half a blob, and the configured store is not touched, so a node keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from careledger._failpoints import crash_point
from careledger.store._blob_files import FileBlobStore
from careledger.store._blob_rows import DatabaseBlobStore
from careledger.store._blobs import BLOB_STORE_KINDS, BlobStore, BlobStoreKind, BlobUsage
from careledger.store._database import Database

# Blobs copied per page: one transaction (database) or one group of fsyncs (files) each.
_PAGE = 64


@dataclass(frozen=True, slots=True)
class BlobsMoved:
    """What a move did: blobs copied, blobs the target held already, and their bytes."""

    source: BlobStoreKind
    target: BlobStoreKind
    moved: int
    already_there: int
    moved_bytes: int
    total_bytes: int


class BlobStores:
    """A node's two blob stores (files under the home, rows of its database) and which one it uses."""

    def __init__(self, configured: BlobStoreKind, root: Path, db: Database) -> None:
        self.configured = configured
        self._root = root
        self._db = db

    @property
    def current(self) -> BlobStore:
        """The configured store, for the record service: it commits the rows that name a blob after putting it,
        which lets a store in the database leave the blob's own commit to be flushed with theirs."""
        return self.store(self.configured, named_later=True)

    def store(self, kind: BlobStoreKind, *, named_later: bool = False) -> BlobStore:
        """The store of `kind`: files under the home, or rows of the node's database (`DatabaseBlobStore` says
        what `named_later` allows it)."""
        return FileBlobStore(self._root) if kind == "files" else DatabaseBlobStore(self._db, named_later=named_later)

    def usage(self) -> dict[BlobStoreKind, BlobUsage]:
        """How many blobs, and bytes, each store holds."""
        return {kind: self.store(kind).usage() for kind in BLOB_STORE_KINDS}

    def move(self, to: BlobStoreKind, progress: Callable[[int], None] = lambda _count: None) -> BlobsMoved:
        """Copy every blob of the other store into `to`, each checked on the way; `progress` is told how many
        blobs each page covered. The source is left as it is (remove it once the node reads from `to`)."""
        target = self.store(to)
        source = self.store(next(kind for kind in BLOB_STORE_KINDS if kind != to))
        moved = already = moved_bytes = total_bytes = 0
        for page in _pages(source.cids()):
            missing = [cid for cid in page if not target.has(cid)]
            data = [source.get(cid) for cid in missing]  # each read checks its bytes against its id
            target.put_many(data)
            for cid in missing:
                target.get(cid)  # read back: the copy is whole
            moved += len(missing)
            already += len(page) - len(missing)
            page_bytes = sum(len(blob) for blob in data)
            moved_bytes += page_bytes
            total_bytes += page_bytes + _sizes(target, set(page) - set(missing))
            progress(len(page))
            crash_point("blobs-page-moved")
        return BlobsMoved(source.kind, target.kind, moved, already, moved_bytes, total_bytes)


def _pages(cids: Iterator[str]) -> Iterator[list[str]]:
    while page := list(islice(cids, _PAGE)):
        yield page


def _sizes(store: BlobStore, cids: set[str]) -> int:
    """The bytes of blobs already in `store` (read, so a damaged copy is found too)."""
    return sum(len(store.get(cid)) for cid in cids)
