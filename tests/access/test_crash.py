"""A write and its audit entry are one transaction: a node killed between them keeps both or neither."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import func, select

from careledger.audit import AuditLog
from careledger.config import Home
from careledger.crypto import AtRestKey
from careledger.node import Node
from careledger.store import AUDIT_EVENTS, RECORD_VERSIONS, Database
from careledger.testdata import PASSPHRASE
from tests.access.crash_worker import SETTINGS
from tests.crash import run_worker


def _worker(home: Home, seed: int, crash_at: str | None = None) -> int:
    return run_worker("tests.access.crash_worker", home, seed, crash_at)


def _counts(home: Home) -> tuple[int, int, bool]:
    """Record versions, audit entries, and whether the audit log verifies."""
    with Node(home, SETTINGS, lambda _wallet: PASSPHRASE, lazy=True) as node:
        audit_key = AtRestKey(node.vault.secret(home.audit_key_file))
    db = Database(f"sqlite:///{home.db_file}")
    try:
        with db.reading() as connection:
            versions = connection.execute(select(func.count()).select_from(RECORD_VERSIONS)).scalar_one()
            entries = connection.execute(select(func.count()).select_from(AUDIT_EVENTS)).scalar_one()
        log = AuditLog(db, key=audit_key, observer="0x" + "0" * 40, chain_id=1)
        return int(versions), int(entries), log.verify(None).ok
    finally:
        db.close()


def test_a_crash_between_the_records_and_the_audit_entry_keeps_neither(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    assert _worker(home, seed=1) == 0
    assert _counts(home) == (1, 1, True)
    assert _worker(home, seed=2, crash_at="record-rows-written") == -signal.SIGKILL
    assert _counts(home) == (1, 1, True)  # its rows and audit entry were written, not committed: neither kept
    assert _worker(home, seed=3, crash_at="record-committed") == -signal.SIGKILL
    assert _counts(home) == (2, 2, True)  # committed together: both kept
    assert _worker(home, seed=4) == 0
    assert _counts(home) == (3, 3, True)
