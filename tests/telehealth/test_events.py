"""Notifications across the workers of one node: published at one, heard by a stream held at another."""

from __future__ import annotations

import asyncio

import pytest

from careledger.shared import Tickets
from careledger.store import Database
from careledger.telehealth import Event, Events, LocalBus, PostgresBus, Readers

READERS = Readers(b"r" * 32)
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20


def test_a_notification_reaches_a_stream_held_at_another_worker(database: Database) -> None:
    """Two workers: each its own connection pool and bus over the one database (SQLite: one process, one bus)."""
    if database.backend == "postgresql":
        other = Database(database.url.render_as_string(hide_password=False), schema=database.schema)
        buses = (PostgresBus(database, Tickets(database)), PostgresBus(other, Tickets(other)))
    else:
        other, buses = database, (LocalBus(),) * 2
    writer, holder = Events(buses[0], READERS), Events(buses[1], READERS)

    async def heard() -> list[Event]:
        loop = asyncio.get_running_loop()
        alice, bob = holder.subscribe(ALICE, loop), holder.subscribe(BOB, loop)
        try:
            await asyncio.sleep(1.5 if database.backend == "postgresql" else 0)  # the listener's LISTEN is in
            await asyncio.to_thread(writer.publish, ALICE, "message", {"thread": "t-1", "unread": 1})
            got = [await asyncio.wait_for(alice.queue.get(), 10)]
            await asyncio.sleep(0.2)
            assert bob.queue.empty()  # another reader's stream hears nothing of hers
            return got
        finally:
            alice.close()
            bob.close()

    try:
        assert asyncio.run(heard()) == [Event("message", {"thread": "t-1", "unread": 1})]
    finally:
        for bus in buses:
            bus.close()
        if other is not database:
            other.close()


@pytest.mark.parametrize("kind", ["changed", "signal"])
def test_the_rooms_events_on_the_same_bus_are_not_notifications(kind: str) -> None:
    bus = LocalBus()
    events = Events(bus, READERS)

    async def quiet() -> bool:
        subscription = events.subscribe(ALICE, asyncio.get_running_loop())
        bus.publish({"kind": kind, "room": "a-1", "to": READERS.token(ALICE)})
        await asyncio.sleep(0.05)
        subscription.close()
        return subscription.queue.empty()

    assert asyncio.run(quiet())
