"""Crash-safe file writes: every file whole or absent, with the fsync or syncfs way alike."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from careledger import files as fs
from careledger.files import write_atomically, write_files_atomically


def _files(root: Path, count: int) -> dict[Path, bytes]:
    return {root / f"{i % 3}" / f"{i:02x}" / f"blob-{i}": os.urandom(100 + i) for i in range(count)}


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]


@pytest.mark.parametrize("count", [1, 7, 8, 300], ids=["one", "below-syncfs", "syncfs", "several-groups"])
def test_every_file_is_written_whole_and_no_temp_file_is_left(tmp_path: Path, count: int) -> None:
    files = _files(tmp_path, count)
    write_files_atomically(files, mode=0o600)
    assert all(path.read_bytes() == data for path, data in files.items())
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)
    assert _leftovers(tmp_path) == []


def test_without_syncfs_the_files_are_synced_one_by_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(fs, "_syncfs", None)
    monkeypatch.setattr(fs.os, "fsync", synced.append)
    files = _files(tmp_path, 20)
    write_files_atomically(files)
    assert all(path.read_bytes() == data for path, data in files.items())
    assert len(synced) == 20 + len({path.parent for path in files})  # each file, then each directory


@pytest.mark.skipif(fs._syncfs is None, reason="syncfs(2) is Linux's")
def test_a_failing_syncfs_leaves_neither_the_files_nor_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fs, "_syncfs", lambda _fd: -1)
    files = _files(tmp_path, 10)
    with pytest.raises(OSError, match="syncfs"):
        write_files_atomically(files)
    assert not any(path.exists() for path in files)
    assert _leftovers(tmp_path) == []


def test_a_replaced_file_is_the_old_or_the_new(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, b"old")
    write_atomically(target, b"new", durable=False)
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []
