"""Content-addressed blob store: ciphertext files named by their CID, under the home.

`blobs/<2>/<cid>`, sharded on the CID's last two characters (its first are the same for
every CIDv1) into 1,024 directories, as git shards its objects: ext4 and its peers index
large directories, while a directory per few blobs made creating it (~0.3 ms here) a large
part of storing a record. Stores made before used `blobs/<2>/<2>/<cid>` and are moved to
this layout when first opened (`blobs/LAYOUT` marks a store already moved). Writes are
atomic (temp file, fsync, rename, fsync of the directory); every read checks that the
bytes still match their name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from careledger.crypto import check_content_id, content_id, is_content_id, parse_content_id
from careledger.errors import NotFound, ValidationError
from careledger.files import write_atomically, write_files_atomically

_LAYOUT_MARKER = "LAYOUT"


class BlobStore:
    """Immutable blobs by content id; the interface an S3 or IPFS store would also offer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        _move_to_flat_layout(root)

    def path(self, cid: str) -> Path:
        """Where the blob with content id `cid` is kept."""
        if not is_content_id(cid):
            parse_content_id(cid)  # says what is wrong with it…
            raise ValidationError(f"content id {cid} is not in base32")  # …or that only its base is
        return self._path(cid)

    def _path(self, cid: str) -> Path:
        return self.root / cid[-2:] / cid

    def put(self, data: bytes) -> str:
        """Store `data`; its CID. Storing the same bytes twice is a no-op."""
        return self.put_many([data])[0]

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store several blobs, all durable when it returns (their fsyncs grouped); their CIDs."""
        cids = [content_id(data) for data in blobs]
        new = {self._path(cid): data for cid, data in zip(cids, blobs, strict=True) if not self._path(cid).exists()}
        write_files_atomically(new, mode=0o600)
        return cids

    def get(self, cid: str) -> bytes:
        """The bytes named `cid`; `IntegrityError` if they changed on disk."""
        try:
            data = self.path(cid).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {cid}") from None
        check_content_id(cid, data)
        return data

    def has(self, cid: str) -> bool:
        """Whether the blob `cid` is here."""
        return self.path(cid).is_file()


def _move_to_flat_layout(root: Path) -> None:
    """Move a store in the old `<2>/<2>/<cid>` layout to `<2>/<cid>`, once.

    `LAYOUT` marks a store in the new layout; it is written once a store holds blobs and
    none is left in the old place. Every step is a rename, so a move cut short by a crash
    is finished by the next open.
    """
    marker = root / _LAYOUT_MARKER
    if marker.exists() or not root.is_dir():
        return
    shards = [entry for entry in os.scandir(root) if entry.is_dir()]
    for shard in shards:
        for leaf in [entry for entry in os.scandir(shard.path) if entry.is_dir()]:
            for blob in os.scandir(leaf.path):
                if blob.name.startswith("."):  # a write's temp file, left by a crash
                    os.unlink(blob.path)
                    continue
                target = root / blob.name[-2:] / blob.name
                target.parent.mkdir(mode=0o700, exist_ok=True)
                os.replace(blob.path, target)
            os.rmdir(leaf.path)
    if shards:
        os.sync()  # the renames are on disk before the marker says they are done
        write_atomically(marker, b"<last 2 characters of the cid>/<cid>\n")
