"""What the report reads of the audit log, on SQLite and PostgreSQL: a period's entries, each checked against the one
before it (the last one before the period, for the first), and when each was written and anchored."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import delete

from careledger.anchoring import Anchorer
from careledger.audit import Access, Action, AuditHeads, AuditLog, Outcome
from careledger.chain import Chain, Deployer, RecordAnchor
from careledger.crypto import AtRestKey
from careledger.store import AuditEntry, Database

CLINIC = str(Account.create().address)
PATIENT = str(Account.create().address)
JUNE = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _log(database: Database) -> AuditLog:
    """A log with one entry a day from 1 June, noon."""
    now = [JUNE]
    log = AuditLog(database, key=AtRestKey(os.urandom(32)), observer=CLINIC, chain_id=31337, clock=lambda: now[0])
    for day in range(6):
        now[0] = JUNE + timedelta(days=day)
        log.record(Access(Action.READ, "read", Outcome.SUCCESS, CLINIC, PATIENT, (f"Observation/o{day}",), "TREAT"))
    return log


def _read(log: AuditLog, first_day: int, last_day: int) -> tuple[list[int], list[str]]:
    problems: list[str] = []
    since, until = JUNE.replace(hour=0) + timedelta(days=first_day), JUNE.replace(hour=0) + timedelta(days=last_day)
    return [entry.seq for entry in log.read(since, until, problems)], problems


def _delete(log: AuditLog, seq: int) -> None:
    with log.db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == seq))


def test_a_period_holds_its_entries_and_no_others(database: Database) -> None:
    log = _log(database)
    assert _read(log, 1, 4) == ([2, 3, 4], [])
    assert _read(log, 0, 6) == ([1, 2, 3, 4, 5, 6], [])
    assert _read(log, 7, 9) == ([], [])
    entry = next(log.read(JUNE, JUNE + timedelta(seconds=1), []))
    assert (entry.recorded_at, entry.access.entities) == (JUNE, ("Observation/o0",))


def test_a_deleted_entry_in_the_period_or_just_before_it_is_found(database: Database) -> None:
    log = _log(database)
    _delete(log, 3)
    assert _read(log, 1, 4) == (
        [2, 4],
        ["entries 3..3 are missing", "entry 4 does not follow the entry before it (its prev_hash differs)"],
    )
    _delete(log, 1)
    seqs, problems = _read(log, 1, 2)
    assert seqs == [2]
    assert problems == [
        "entries 1..1 are missing",
        "entry 2 does not follow the entry before it (its prev_hash differs)",
    ]


def test_the_lag_of_what_was_anchored_and_what_waits(
    database: Database, memory_chain: Chain, account: LocalAccount
) -> None:
    """All three waiting, then anchored 49, 25 and 1 hours after they were written."""
    _log(database)
    signer = memory_chain.signer(account)
    deployed = Deployer(memory_chain, None).deploy(signer, "RecordAnchor").deployment
    anchor = RecordAnchor(memory_chain, deployed.address, signer)
    anchorer = Anchorer(database, lambda: anchor, AuditHeads(), clock=lambda: JUNE + timedelta(days=3, hours=1))
    second_to_fourth = (JUNE.replace(hour=0) + timedelta(days=1), JUNE + timedelta(days=3, minutes=1))
    assert anchorer.lags(*second_to_fourth) == ([], [JUNE + timedelta(days=d) for d in (1, 2, 3)])
    anchorer.anchor_pending()
    assert anchorer.lags(*second_to_fourth) == ([49 * 3600.0, 25 * 3600.0, 3600.0], [])
