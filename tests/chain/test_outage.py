"""An outage of the chain: fail fast, retry with backoff, log its start and end once each."""

from __future__ import annotations

import logging

import pytest

from careledger.chain._outage import MAX_RETRY, Outage
from careledger.errors import ChainUnavailable


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _fail(outage: Outage, *, retry: bool) -> None:
    outage.failed(ChainUnavailable("cannot reach the chain at http://127.0.0.1:9: ConnectionError"), retry=retry)


def test_requests_fail_at_once_until_a_retry_is_due_and_one_thread_makes_it(clock: Clock) -> None:
    outage = Outage(clock=clock)
    assert outage.admit() is False  # up: send
    _fail(outage, retry=False)
    with pytest.raises(ChainUnavailable, match=r"127.0.0.1:9: ConnectionError \(unavailable for 0 s; retrying\)$"):
        outage.admit()
    clock.now += 0.25
    assert outage.admit() is True  # this request is the retry
    with pytest.raises(ChainUnavailable):
        outage.admit()  # another thread, while the retry is under way
    outage.answered("http://127.0.0.1:9")
    outage.settle()
    assert outage.admit() is False
    assert (outage.down, outage.recoveries) == (False, 1)


def test_the_delay_between_retries_doubles_up_to_its_limit(clock: Clock) -> None:
    outage = Outage(clock=clock)
    _fail(outage, retry=False)
    delays = []
    for _ in range(7):
        waited = 0.0
        while True:
            try:
                assert outage.admit() is True
                break
            except ChainUnavailable:
                clock.now += 0.125
                waited += 0.125
        delays.append(waited)
        _fail(outage, retry=True)
        outage.settle()
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, MAX_RETRY, MAX_RETRY]


def test_an_outage_is_logged_when_it_starts_now_and_then_while_it_lasts_and_when_it_ends(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    outage = Outage(clock=clock)
    with caplog.at_level(logging.INFO, logger="careledger.chain"):
        _fail(outage, retry=False)
        _fail(outage, retry=False)  # a second request that was on its way
        for _ in range(60):  # a minute of retries, every 4 s at most
            clock.now += 1
            try:
                outage.admit()
            except ChainUnavailable:
                continue
            _fail(outage, retry=True)
            outage.settle()
        outage.answered("http://127.0.0.1:9")
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == (
        "chain unavailable: cannot reach the chain at http://127.0.0.1:9: ConnectionError; retrying with backoff"
    )
    # retries at 1, 2, 3, 5, 9, 13, 17, … s: a line at the first past 10 s, the next 20 s later
    assert [line.split(":")[0] for line in lines[1:-1]] == [
        "chain still unavailable after 13 s",
        "chain still unavailable after 33 s",
    ]
    assert lines[1].endswith("ConnectionError; retrying every 4 s")
    assert lines[-1] == "chain reachable again at http://127.0.0.1:9 after 60.0 s"
    assert all("Traceback" not in line and "\n" not in line for line in lines)
