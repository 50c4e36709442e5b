"""The content-addressed blob store."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from careledger.crypto import content_id
from careledger.errors import IntegrityError, NotFound, ValidationError
from careledger.store import BlobStore


def test_put_get_and_layout(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    cid = store.put(b"ciphertext")
    assert cid == content_id(b"ciphertext")
    assert store.get(cid) == b"ciphertext"
    path = store.path(cid)
    assert path == tmp_path / "blobs" / cid[-4:-2] / cid[-2:] / cid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.put(b"ciphertext") == cid  # idempotent
    assert store.has(cid)


def test_a_changed_byte_on_disk_is_detected(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    cid = store.put(b"ciphertext")
    store.path(cid).write_bytes(b"ciphertexT")
    with pytest.raises(IntegrityError, match="does not match its id"):
        store.get(cid)


def test_missing_and_malformed_ids(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(NotFound):
        store.get(content_id(b"never stored"))
    with pytest.raises(ValidationError):
        store.get("../../etc/passwd")
    assert not list(tmp_path.iterdir())
