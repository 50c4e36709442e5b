"""The event reader resumes from its stored cursor and never skips on a crash."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.orm import Session

from careledger.chain import AnchorKind, ChainEvent, EventReader, RecordAnchor
from careledger.store import Database


def _anchored(events: list[ChainEvent]) -> list[bytes]:
    return [e.args["root"] for e in events if e.name == "Anchored"]


def test_reads_new_events_once(anchor: RecordAnchor, database: Database) -> None:
    reader = EventReader(anchor, database, "anchors")
    seen: list[ChainEvent] = []
    first = anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS).root
    reader.poll(lambda _s, e: seen.append(e))
    assert _anchored(seen) == [first]
    assert {e.name for e in seen} == {"Anchored", "RoleGranted"}
    assert reader.poll(lambda _s, e: seen.append(e)) == 0
    later = [anchor.anchor(os.urandom(32), 1, AnchorKind.AUDIT).root for _ in range(2)]
    # A new reader on the same stream resumes from the stored cursor.
    again: list[ChainEvent] = []
    EventReader(anchor, database, "anchors").poll(lambda _s, e: again.append(e))
    assert _anchored(again) == later
    assert reader.last_block() == anchor.chain.block_number()


def test_a_failing_handler_leaves_the_cursor_in_place(anchor: RecordAnchor, database: Database) -> None:
    reader = EventReader(anchor, database, "anchors")
    root = anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS).root
    before = reader.last_block()

    def crash(_session: Session, event: ChainEvent) -> None:
        if event.name == "Anchored":
            raise RuntimeError("crash while handling")

    with pytest.raises(RuntimeError):
        reader.poll(crash)
    assert reader.last_block() == before
    seen: list[ChainEvent] = []
    reader.poll(lambda _s, e: seen.append(e))
    assert _anchored(seen) == [root]


def test_streams_keep_separate_cursors(anchor: RecordAnchor, database: Database) -> None:
    root = anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS).root
    EventReader(anchor, database, "first").poll(lambda _s, _e: None)
    seen: list[ChainEvent] = []
    EventReader(anchor, database, "second").poll(lambda _s, e: seen.append(e))
    assert _anchored(seen) == [root]
