"""Tickets and rate buckets in the node's database, as two workers (two engines on one database) see them."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from careledger.errors import TooMany
from careledger.shared import Buckets, Tickets
from careledger.store import Database
from careledger.store.models import Ticket


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def second(database: Database) -> Iterator[Database]:
    """Another worker's engine on the same database (its own pool, as another process has)."""
    other = Database(database.url.render_as_string(hide_password=False), schema=database.schema)
    yield other
    other.close()


def test_a_ticket_put_by_one_worker_is_taken_once_by_the_other(database: Database, second: Database) -> None:
    clock = _Clock()
    here, there = Tickets(database, clock=clock), Tickets(second, clock=clock)
    here.put("nonce", "s3cret", {"client": "app"}, ttl=60)
    assert there.peek("nonce", "s3cret") == {"client": "app"}
    assert there.peek("code", "s3cret") is None  # kinds are apart
    assert there.take("nonce", "s3cret") == {"client": "app"}
    assert here.take("nonce", "s3cret") is None
    assert there.take("nonce", "s3cret") is None


def test_the_secret_itself_is_never_stored(database: Database) -> None:
    Tickets(database).put("session", "the-cookie-value", {}, ttl=60)
    with database.reading() as connection:
        keys = connection.execute(select(Ticket.key)).scalars().all()
    assert keys
    assert "the-cookie-value" not in keys


def test_an_expired_ticket_is_refused_and_purged(database: Database) -> None:
    clock = _Clock()
    tickets = Tickets(database, clock=clock)
    tickets.put("code", "old", {}, ttl=10)
    tickets.put("code", "touched", {}, ttl=10)
    clock.now += 5
    assert tickets.touch("code", "touched", ttl=60)
    clock.now += 10
    assert tickets.peek("code", "old") is None
    assert tickets.take("code", "old") is None
    assert not tickets.touch("code", "old", ttl=60)
    assert tickets.peek("code", "touched") == {}
    clock.now += 120
    tickets.put("code", "new", {}, ttl=10)  # the putter purges what expired
    with database.reading() as connection:
        assert connection.execute(select(Ticket.key)).scalars().all() == [_stored_key("new")]


def _stored_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def test_add_says_first_time_once_until_it_expires(database: Database, second: Database) -> None:
    clock = _Clock()
    here, there = Tickets(database, clock=clock), Tickets(second, clock=clock)
    assert here.add("assertion", "client:jti-1", ttl=30)
    assert not there.add("assertion", "client:jti-1", ttl=30)
    assert there.add("assertion", "client:jti-2", ttl=30)
    clock.now += 31
    assert there.add("assertion", "client:jti-1", ttl=30)  # expired, so forgotten


def test_racing_takers_win_once(database: Database, second: Database) -> None:
    tickets = [Tickets(database), Tickets(second)]
    for n in range(20):
        tickets[0].put("code", f"c{n}", {"n": n}, ttl=60)
    won: list[int] = []

    def take(which: int) -> None:
        for n in range(20):
            if tickets[which].take("code", f"c{n}") is not None:
                won.append(n)

    threads = [threading.Thread(target=take, args=(i % 2,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == list(range(20))


def test_a_rate_limit_counts_both_workers_and_refills(database: Database, second: Database) -> None:
    clock = _Clock()
    here = Buckets(database, clock=clock).limit("open", 60, burst=3)
    there = Buckets(second, clock=clock).limit("open", 60, burst=3)
    here.take("10.0.0.1")
    there.take("10.0.0.1")
    here.take("10.0.0.1")
    with pytest.raises(TooMany, match="try again in 1 s") as refused:
        there.take("10.0.0.1")
    assert refused.value.retry_after == 1
    there.take("10.0.0.2")  # another key has its own bucket
    Buckets(database, clock=clock).limit("login", 60, burst=1).take("10.0.0.1")  # and another limit
    clock.now += 1.0
    here.take("10.0.0.1")  # one more a second
    with pytest.raises(TooMany):
        here.take("10.0.0.1")
    clock.now += 3600
    for _ in range(3):
        there.take("10.0.0.1")  # full again


def test_a_refused_request_does_not_push_the_wait_further(database: Database) -> None:
    clock = _Clock()
    limit = Buckets(database, clock=clock).limit("login", 6, burst=1)  # one per ten seconds
    limit.take("0xabc")
    for _ in range(5):
        with pytest.raises(TooMany, match="in 10 s"):
            limit.take("0xabc")
    clock.now += 10
    limit.take("0xabc")
