"""Blobs as files under the home: ciphertext files named by their CID.

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
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from careledger.crypto import check_content_id, content_id, is_content_id
from careledger.errors import NotFound
from careledger.files import write_atomically, write_files_atomically
from careledger.store._blobs import BlobStore, BlobStoreKind, BlobUsage, checked_cid

_LAYOUT_MARKER = "LAYOUT"
_REMOVERS = 8  # blob files unlinked at once


class FileBlobStore(BlobStore):
    """Blobs as files in one directory tree: the default, for a node of one process on one host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        _move_to_flat_layout(root)

    @property
    def kind(self) -> BlobStoreKind:
        """`files`."""
        return "files"

    def path(self, cid: str) -> Path:
        """Where the blob with content id `cid` is kept."""
        return self._path(checked_cid(cid))

    def _path(self, cid: str) -> Path:
        return self.root / cid[-2:] / cid

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

    def remove(self, cids: Collection[str]) -> int:
        """Unlink these blob files, several at a time (one by one, ext4 takes milliseconds each); how many there
        were. The bytes are not overwritten (on a journalling file system or an SSD that would not reach every
        copy): they are ciphertext whose data keys are gone."""
        paths = [self.path(cid) for cid in cids]
        if not paths:
            return 0
        with ThreadPoolExecutor(_REMOVERS, thread_name_prefix="careledger-blob-remove") as pool:
            return sum(pool.map(_unlink, paths))

    def cids(self) -> Iterator[str]:
        """Every blob's id, shard by shard (a write's temp file, named `.<cid>…`, is not one)."""
        for _, name in self._files():
            yield name

    def usage(self) -> BlobUsage:
        """How many blob files, and their bytes."""
        count = size = 0
        for path, _ in self._files():
            count += 1
            size += os.stat(path).st_size
        return BlobUsage(count, size)

    def _files(self) -> Iterator[tuple[str, str]]:
        """(path, cid) of every blob file."""
        if not self.root.is_dir():
            return
        for shard in sorted(os.scandir(self.root), key=lambda entry: entry.name):
            if shard.is_dir():
                for entry in os.scandir(shard.path):
                    if is_content_id(entry.name):
                        yield entry.path, entry.name


def _unlink(path: Path) -> bool:
    """Remove one file; whether it was there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


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
