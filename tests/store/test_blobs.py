"""The content-addressed blob store."""

from __future__ import annotations

import os
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
    assert path == tmp_path / "blobs" / cid[-2:] / cid
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


def test_a_store_in_the_old_layout_is_moved_when_opened(tmp_path: Path) -> None:
    blobs = [f"ciphertext {n}".encode() for n in range(40)]
    for data in blobs:  # the old layout: blobs/<2>/<2>/<cid>, with a crashed write's temp file
        cid = content_id(data)
        old = tmp_path / cid[-4:-2] / cid[-2:] / cid
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(data)
    (old.parent / f".{cid}.1.2.tmp").write_bytes(b"half")
    store = BlobStore(tmp_path)
    assert [store.get(content_id(data)) for data in blobs] == blobs
    leftovers = [p for p in tmp_path.rglob("*") if (p.is_dir() and p.parent != tmp_path) or p.name.endswith(".tmp")]
    assert leftovers == []
    assert (tmp_path / "LAYOUT").is_file()
    assert BlobStore(tmp_path).get(content_id(blobs[0])) == blobs[0]  # opening again changes nothing


def test_a_move_cut_short_is_finished_by_the_next_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = [f"ciphertext {n}".encode() for n in range(40)]
    for data in blobs:
        cid = content_id(data)
        old = tmp_path / cid[-4:-2] / cid[-2:] / cid
        old.parent.mkdir(parents=True, exist_ok=True)
        old.write_bytes(data)
    real_rmdir, calls = os.rmdir, []

    def crash_on_the_fifth(path: str) -> None:
        calls.append(path)
        if len(calls) == 5:
            raise OSError("power cut")
        real_rmdir(path)

    monkeypatch.setattr(os, "rmdir", crash_on_the_fifth)
    with pytest.raises(OSError, match="power cut"):
        BlobStore(tmp_path)
    monkeypatch.setattr(os, "rmdir", real_rmdir)
    assert not (tmp_path / "LAYOUT").exists()
    store = BlobStore(tmp_path)
    assert [store.get(content_id(data)) for data in blobs] == blobs
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and p.parent != tmp_path]
    assert (tmp_path / "LAYOUT").is_file()
