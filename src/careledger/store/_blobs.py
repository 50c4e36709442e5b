"""The blob store's interface: immutable ciphertext blobs by content id, wherever they are kept.

Two stores offer it: files under the home (`_blob_files`), and rows of the node's database
(`_blob_rows`), which every worker and a second host reach. `_blob_stores` picks the configured
one and moves blobs between them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from careledger.crypto import is_content_id, parse_content_id
from careledger.errors import ValidationError

# Where a node keeps its blobs: the `blob_store` setting.
BlobStoreKind = Literal["files", "database"]
BLOB_STORE_KINDS: tuple[BlobStoreKind, ...] = ("files", "database")


@dataclass(frozen=True, slots=True)
class BlobUsage:
    """How many blobs a store holds, and their bytes."""

    count: int
    bytes: int


class BlobStore(Protocol):
    """Immutable blobs by content id. Every read checks the bytes against their id (`IntegrityError` if they
    changed); storing bytes already there is a no-op; a crash never leaves part of a blob readable.

    The stores subclass it, so `put` is written once.
    """

    @property
    def kind(self) -> BlobStoreKind:
        """Which store this is (`files` or `database`)."""
        ...

    def put(self, data: bytes) -> str:
        """Store `data`; its CID."""
        return self.put_many([data])[0]

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store several blobs, all durable when it returns (or, for a writer that commits rows naming them in the
        same database afterwards, with those rows); their CIDs, in order."""
        ...

    def get(self, cid: str) -> bytes:
        """The bytes named `cid`: `NotFound` if absent, `IntegrityError` if they no longer match it."""
        ...

    def has(self, cid: str) -> bool:
        """Whether the blob `cid` is here."""
        ...

    def remove(self, cids: Collection[str]) -> int:
        """Remove these blobs for good (an erasure: their data keys are destroyed already); how many were here."""
        ...

    def cids(self) -> Iterator[str]:
        """The id of every blob here (for moving a store, counting, backing up)."""
        ...

    def usage(self) -> BlobUsage:
        """How many blobs, and how many bytes."""
        ...


def checked_cid(cid: str) -> str:
    """`cid` if it is a content id of the kind CareLedger makes; else `ValidationError` saying what is wrong."""
    if not is_content_id(cid):
        parse_content_id(cid)  # says what is wrong with it…
        raise ValidationError(f"content id {cid} is not in base32")  # …or that only its base is
    return cid
