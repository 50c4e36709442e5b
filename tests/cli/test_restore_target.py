"""`careledger restore` by a user who may not write where the new home goes: one clear line and exit 16, before the
backup is read (it was "unexpected PermissionError", exit 70, after the passphrase and a progress bar)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.cli._errors import EXIT_CODES
from careledger.errors import NotWritable

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any user may enter (pytest's own are the test user's alone), removed after."""
    made = Path(tempfile.mkdtemp(prefix="careledger-restore-"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        for path in (made, *made.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(made)


def _as_another_user() -> list[str]:
    """The command prefix that runs the CLI as a user the folder's mode applies to: this one, or, for root (whom
    no mode stops), nobody."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: no user here that a folder's mode would stop")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.mark.parametrize("home", ["home", "new/home"], ids=["in the folder", "in a folder still to make"])
def test_restore_into_a_folder_this_user_may_not_write_is_refused_before_any_work(shared_dir: Path, home: str) -> None:
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    backup = shared_dir / "node.backup"
    backup.write_bytes(b"never read: the target is refused first")
    backup.chmod(0o644)
    ran = subprocess.run(
        [*_as_another_user(), sys.executable, "-m", "careledger", "--home", str(locked / home), "restore", str(backup)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(shared_dir), "CARELEDGER_BACKUP_PASSPHRASE": "backup pass"},
    )
    assert ran.returncode == EXIT_CODES[NotWritable] == 16, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr  # no progress bar: refused before the backup was opened
    assert lines[0] == (
        f"error: {locked} is not writable by this user: a restore writes the new home {locked / home} there; "
        "restore as the user who may (the service's user), or into a home in a folder you may write"
    )
    assert list(locked.iterdir()) == []
