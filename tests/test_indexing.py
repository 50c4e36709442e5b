"""The event reader resumes from its stored cursor and never skips on a crash."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from careledger.chain import AnchorKind, ChainEvent, RecordAnchor
from careledger.indexing import EventReader
from careledger.store import Database, EventCursor


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


def test_blocks_indexed_at_the_same_moment_by_another_process_are_left_to_it(
    anchor: RecordAnchor, database: Database
) -> None:
    """Two processes on one database (another worker, the CLI beside a server) poll the same span at once: one
    indexes it, the other leaves it to that one (PostgreSQL: it waits for the first, then finds the cursor moved;
    SQLite: the second to commit fails on what the first wrote) and goes on from its cursor."""
    other = Database(database.url.render_as_string(hide_password=False), schema=database.schema)
    anchor.anchor(os.urandom(32), 1, AnchorKind.RECORDS)
    head = anchor.chain.block_number()

    def index(session: Session, event: ChainEvent) -> None:
        if event.name == "Anchored":  # a row only one of the two may write, as the consent index's are
            session.add(EventCursor(stream=f"seen-{event.args['root'].hex()}", chain_id=0, last_block=event.block))

    theirs = EventReader(anchor, other, "anchors")
    racer = threading.Thread(target=theirs.poll, args=(index,))

    def race(session: Session, event: ChainEvent) -> None:
        if event.name == "Anchored":  # the other process polls the same span while this one is in it
            racer.start()
            racer.join(0.5)
        index(session, event)

    ours = EventReader(anchor, database, "anchors")
    try:
        ours.poll(race)
        racer.join(10)
    finally:
        other.close()
    assert not racer.is_alive()
    assert ours.indexed_elsewhere != theirs.indexed_elsewhere  # one indexed the span, the other left it to it
    assert ours.last_block() == ours.reached.block == theirs.reached.block == head
    with database.session() as session:
        assert len(session.scalars(select(EventCursor).where(EventCursor.stream.startswith("seen-"))).all()) == 1
