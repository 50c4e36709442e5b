"""Content-addressed blob store: ciphertext files named by their CID, under the home.

`blobs/<2>/<2>/<cid>`, sharded on the CID's last characters (its first are the same
for every CIDv1). Writes are atomic (temp file, fsync, rename, fsync of the directory);
every read checks that the bytes still match their name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from careledger._fs import write_files_atomically
from careledger.crypto import check_content_id, content_id, is_content_id, parse_content_id
from careledger.errors import NotFound, ValidationError


class BlobStore:
    """Immutable blobs by content id; the interface an S3 or IPFS store would also offer."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, cid: str) -> Path:
        if not is_content_id(cid):
            parse_content_id(cid)  # says what is wrong with it…
            raise ValidationError(f"content id {cid} is not in base32")  # …or that only its base is
        return self._path(cid)

    def _path(self, cid: str) -> Path:
        return self.root / cid[-4:-2] / cid[-2:] / cid

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
        return self.path(cid).is_file()
