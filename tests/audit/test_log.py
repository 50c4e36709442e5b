"""The audit log: FHIR AuditEvents, a hash chain that shows every edit, heads anchored on chain."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from careledger.anchoring import Anchorer
from careledger.audit import Access, Action, AuditHeads, AuditLog, Outcome, entry_hash
from careledger.chain import RecordAnchor
from careledger.crypto import AtRestKey
from careledger.store import AuditEntry, Database, NodeState

CLINIC = str(Account.create().address)
PATIENT = str(Account.create().address)
_KEY = AtRestKey(os.urandom(32))


def _read(outcome: Outcome = Outcome.SUCCESS, *, record: str = "Observation/obs-1/_history/1") -> Access:
    return Access(
        action=Action.READ,
        interaction="read",
        outcome=outcome,
        agent=CLINIC,
        patient=PATIENT,
        entities=(record,),
        purpose="TREAT",
        detail=None if outcome == Outcome.SUCCESS else "no consent from the patient to labs records for TREAT",
    )


@pytest.fixture
def log(database: Database, anchor: RecordAnchor) -> AuditLog:
    return AuditLog(database, key=_KEY, observer=anchor.signer.address if anchor.signer else CLINIC, chain_id=31337)


@pytest.fixture
def written(log: AuditLog) -> AuditLog:
    for n in range(6):
        log.record(_read(Outcome.DENIED if n % 3 == 2 else Outcome.SUCCESS, record=f"Observation/o{n}/_history/1"))
    return log


def _anchor_all(log: AuditLog, anchor: RecordAnchor) -> None:
    Anchorer(log.db, lambda: anchor, AuditHeads()).anchor_pending()


def test_entries_are_valid_fhir_audit_events_in_a_chain(written: AuditLog) -> None:
    entries = written.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    for entry in entries:
        AuditEvent.model_validate(entry.event)
    denied = entries[2]
    assert denied.access == _read(Outcome.DENIED, record="Observation/o2/_history/1")
    assert denied.event["outcome"] == "4"
    assert denied.event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert written.entries(patient=PATIENT) == entries
    assert written.entries(patient=CLINIC) == []


def test_a_clean_log_verifies(written: AuditLog, anchor: RecordAnchor) -> None:
    _anchor_all(written, anchor)
    written.record(_read())  # written after the last anchor: still in the chain of hashes
    report = written.verify(anchor)
    assert report.ok, report.problems
    assert (report.entries, report.anchored_heads) == (7, 1)


def _stored_text(log: AuditLog, seq: int) -> str:
    with log.db.session() as session:
        return session.scalars(select(AuditEntry.event).where(AuditEntry.seq == seq)).one()


def _store_text(log: AuditLog, seq: int, text: str) -> None:
    with log.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(event=text))


def test_event_text_is_sealed_on_disk(written: AuditLog) -> None:
    """A denial's reason names the category; the stored row shows neither it nor the record."""
    stored = _stored_text(written, 3)
    assert stored.startswith("sealed:")
    for secret in ("labs", "no consent", "Observation/o2", "TREAT"):
        assert secret not in stored
    assert written.entries()[2].access.detail == "no consent from the patient to labs records for TREAT"


def test_an_edited_sealed_entry_is_detected(written: AuditLog, anchor: RecordAnchor) -> None:
    """Someone without the key can only damage the ciphertext: it no longer opens."""
    sealed = bytearray(base64.b64decode(_stored_text(written, 3).removeprefix("sealed:")))
    sealed[20] ^= 1
    _store_text(written, 3, "sealed:" + base64.b64encode(bytes(sealed)).decode())
    assert written.verify(anchor).problems == ("entry 3's sealed text does not open: it was changed or moved",)


def test_a_sealed_entry_moved_to_another_row_does_not_open(written: AuditLog, anchor: RecordAnchor) -> None:
    _store_text(written, 2, _stored_text(written, 3))
    assert written.verify(anchor).problems == ("entry 2's sealed text does not open: it was changed or moved",)


def test_an_edit_by_the_key_holder_is_detected(written: AuditLog, anchor: RecordAnchor) -> None:
    """The node itself can re-seal changed text, but not make it hash the same."""
    event = written.entries()[2].event
    _store_text(written, 3, written._seal(3, json.dumps({**event, "outcome": "0"}).encode()))
    assert "entry 3 was changed after it was written" in written.verify(anchor).problems[0]


def test_a_log_written_before_sealing_is_sealed_in_place(written: AuditLog, anchor: RecordAnchor) -> None:
    _anchor_all(written, anchor)
    events = [entry.event for entry in written.entries()]
    with written.db.session() as session:  # as a database of migration 0006 held them
        for seq, event in enumerate(events, start=1):
            session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(event=json.dumps(event)))
        session.execute(update(NodeState).where(NodeState.name == "sealed_audit").values(value="pending"))
    assert [entry.event for entry in written.entries()] == events  # still read as they are
    assert written.verify(anchor).ok
    assert written.seal_plaintext() == 6
    assert written.seal_plaintext() == 0  # once
    assert all(_stored_text(written, seq).startswith("sealed:") for seq in range(1, 7))
    assert [entry.event for entry in written.entries()] == events
    report = written.verify(anchor)
    assert report.ok, report.problems
    assert report.anchored_heads == 1


def test_a_deleted_entry_is_detected(written: AuditLog, anchor: RecordAnchor) -> None:
    with written.db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    problems = written.verify(anchor).problems
    assert "entries 3..3 are missing" in problems
    assert "entry 4 does not follow the entry before it (its prev_hash differs)" in problems


def test_a_moved_index_column_is_detected(written: AuditLog, anchor: RecordAnchor) -> None:
    with written.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(patient=CLINIC))
    assert written.verify(anchor).problems == ("entry 2's patient or agent column differs from its event",)


def test_a_rewritten_history_no_longer_matches_the_anchored_head(written: AuditLog, anchor: RecordAnchor) -> None:
    _anchor_all(written, anchor)
    # Whoever controls the database edits entry 3 and recomputes every hash after it.
    with written.db.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        prev = rows[1].hash
        events = {entry.seq: entry.event for entry in written.entries()}
        events[3] = {**events[3], "outcome": "0"}
        for row in rows[2:]:
            row.event = written._seal(row.seq, json.dumps(events[row.seq]).encode())
            row.prev_hash = b"\x00" * 31 + bytes([row.seq])  # free the unique prev_hash first
        session.flush()
        for row in rows[2:]:
            row.prev_hash = prev
            row.hash = entry_hash(prev, events[row.seq])
            prev = row.hash
    problems = written.verify(anchor).problems
    assert len(problems) == 1
    assert "is not in the log: entries were rewritten or cut" in problems[0]


def test_two_writers_never_fork_the_chain(database: Database, tmp_path: Path) -> None:
    first = AuditLog(database, key=_KEY, observer=CLINIC, chain_id=1)
    second = AuditLog(database, key=_KEY, observer=CLINIC, chain_id=1)
    for _ in range(5):
        first.record(_read())
        second.record(_read())  # its cached head is stale every time
    assert [e.seq for e in first.entries()] == list(range(1, 11))
    assert first.verify(None).ok


def test_a_group_that_fails_at_commit_leaves_no_head_behind(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the rows are checked when the pipeline is synced at COMMIT, after the group was chained: the
    head it would have made is forgotten, so the next entry chains on what was committed and the log verifies."""
    if log.db.backend != "postgresql":
        pytest.skip("SQLite does not bound an INTEGER")
    log.record(_read())
    chained = log._chained

    def out_of_range(head: tuple[int, bytes], items: list[Any]) -> tuple[tuple[int, bytes], list[dict[str, Any]]]:
        new_head, rows = chained(head, items)
        return new_head, [{**row, "seq": 2**40} for row in rows]  # refused by the server, not by the driver

    monkeypatch.setattr(log, "_chained", out_of_range)
    with pytest.raises(DBAPIError):
        log.record(_read())
    monkeypatch.undo()
    log.record(_read())
    assert [e.seq for e in log.entries()] == [1, 2]
    assert log.verify(None).ok


def test_entries_handed_over_without_waiting_are_written_soon_after_or_before_a_read(
    log: AuditLog, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    def failing() -> list[Access]:
        raise OSError("the index is gone")

    log.record_later([_read(Outcome.DENIED, record="Observation/a/_history/1")])
    log.record_later(failing)  # logged, and fails none of the others
    log.record_later(lambda: [_read(Outcome.DENIED, record="Observation/b/_history/1")])
    another = AuditLog(database, key=_KEY, observer=log.observer, chain_id=31337)  # reads the table as it is
    assert another.entries() == []  # nothing written yet: the caller was not kept waiting
    deadline = time.monotonic() + 5
    while not another.entries() and time.monotonic() < deadline:
        time.sleep(0.05)
    written = another.entries()
    assert [e.access.entities for e in written] == [("Observation/a/_history/1",), ("Observation/b/_history/1",)]
    assert "the index is gone" in caplog.text
    log.record_later([_read(record="Observation/c/_history/1")])
    assert log.entries()[-1].access.entities == ("Observation/c/_history/1",)  # a read here writes it first
    assert log.verify(None).ok
