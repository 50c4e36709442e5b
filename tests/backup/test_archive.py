"""Writing a backup file: a backup killed half way leaves no plaintext beside DEST (its scratch is inside the
home, and the next backup removes it), one backup of a home runs at a time, and no file is ever overwritten."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from careledger.backup import backup_home
from careledger.backup._archive import SCRATCH
from careledger.cli import run
from careledger.config import Home, load_settings
from careledger.errors import Conflict

ROOT = Path(__file__).resolve().parents[2]


def _quiet(_done: int, _total: int, _name: str) -> None:
    return None


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "node pass")
    assert run(["--home", str(tmp_path / "home"), "--chain", "memory", "init", "--light-kdf"]) == 0
    return Home(tmp_path / "home")


def test_a_killed_backup_leaves_no_plaintext_beside_dest_and_the_next_one_clears_it(home: Home, tmp_path: Path) -> None:
    dest = tmp_path / "offsite"
    dest.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CARELEDGER_CRASH_AT": "backup-snapshot-taken",
        "CARELEDGER_BACKUP_PASSPHRASE": "backup pass",
    }
    command = [sys.executable, "-m", "careledger", "--home", str(home.path), "backup", str(dest), "--json"]
    killed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    beside = [path for path in dest.rglob("*") if path.is_file()]
    assert [path.suffix for path in beside] == [".partial"]  # sealed bytes only, no database snapshot
    assert b"SQLite format 3" not in beside[0].read_bytes()
    left = [path for path in (home.path / SCRATCH).rglob("*") if path.name != "lock"]
    assert any(path.name == "database" for path in left)  # the snapshot it took, inside the home

    manifest, written, _size = backup_home(home, load_settings(home), dest / "next.backup", "backup pass", _quiet)
    assert written.is_file()
    assert [path.name for path in (home.path / SCRATCH).iterdir()] == ["lock"]  # the stale scratch is gone
    assert not any(SCRATCH in name for name in manifest.files)


def test_one_backup_of_a_home_at_a_time(home: Home, tmp_path: Path) -> None:
    (home.path / SCRATCH).mkdir(mode=0o700)
    with (home.path / SCRATCH / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(Conflict, match=r"another backup of .* is running"):
            backup_home(home, load_settings(home), tmp_path / "b.backup", "backup pass", _quiet)
    assert list(tmp_path.glob("b.backup*")) == []


def test_a_file_that_appears_at_dest_or_its_partial_is_never_overwritten(home: Home, tmp_path: Path) -> None:
    dest = tmp_path / "b.backup"

    def someone_writes_dest(_done: int, _total: int, _name: str) -> None:
        if not dest.exists():
            dest.write_bytes(b"theirs")

    with pytest.raises(Conflict, match="a backup never overwrites a file"):
        backup_home(home, load_settings(home), dest, "backup pass", someone_writes_dest)
    assert dest.read_bytes() == b"theirs"
    assert not dest.with_name("b.backup.partial").exists()

    other = tmp_path / "c.backup"
    other.with_name("c.backup.partial").write_bytes(b"another backup's")
    with pytest.raises(Conflict, match="partial exists"):
        backup_home(home, load_settings(home), other, "backup pass", _quiet)
    assert other.with_name("c.backup.partial").read_bytes() == b"another backup's"
    assert not other.exists()
