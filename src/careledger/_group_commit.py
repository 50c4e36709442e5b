"""Group commit: writes from concurrent callers committed together, each caller answered.

A durable commit (fsync, a database commit) costs about the same for one item as for a
hundred. Callers queue their item and whoever commits takes everything queued so far in
one go. Two kinds of caller share one queue:

- a thread (`submit`) commits the queue itself when it gets the writer's lock, and the
  threads behind it find their items already committed: a lone caller pays nothing extra;
- an event loop (`submit_async`, the API server) never blocks: its item is committed by
  the group's own committer thread, and the awaiting request is answered from there. The
  loop hands over one item per request but the committer wakes once per group, where a
  thread per request would cost the GIL and the scheduler a handover per request (on the
  project's 2-core machines, about as much CPU as the read itself).

A store that takes concurrent transactions (PostgreSQL) may let `parallel` groups commit at
once: while one group waits on its fsyncs, the chain or a round trip to the database, the
next is already being committed, where one committer would leave the others queued behind
those waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


@dataclass(slots=True)
class _Ticket(Generic[_Item, _Result]):
    item: _Item
    future: asyncio.Future[_Result] | None = None  # an event loop's caller waits on this
    done: bool = False
    result: _Result | None = None
    error: BaseException | None = field(default=None, repr=False)


class GroupCommit(Generic[_Item, _Result]):
    """Commits queued items in groups with `commit(items) -> one result or exception per item`."""

    def __init__(
        self, commit: Callable[[Sequence[_Item]], Sequence[_Result | BaseException]], *, name: str, parallel: int = 1
    ) -> None:
        """`parallel` groups may commit at once (each in its own thread); 1 keeps them in order, one at a time."""
        self._commit = commit
        self._name = name
        self._parallel = parallel
        self._queue: list[_Ticket[_Item, _Result]] = []
        self._queue_lock = threading.Lock()
        self._writers = threading.BoundedSemaphore(parallel)
        self._answered = threading.Condition(self._queue_lock)  # a group's threads' tickets are done
        self._committer: ThreadPoolExecutor | None = None
        self._drain_scheduled = False

    def submit(self, item: _Item) -> _Result:
        """Commit `item` (with whatever else is queued); its result, or its exception raised."""
        return self.submit_all([item])[0]

    def submit_all(self, items: Sequence[_Item]) -> list[_Result]:
        """Commit `items` in one group (with whatever else is queued); their results, or the first exception."""
        if not items:
            return []  # nothing to wait for, not even a committer busy with others' items
        tickets: list[_Ticket[_Item, _Result]] = [_Ticket(item) for item in items]
        with self._queue_lock:
            self._queue.extend(tickets)
        with self._writers:
            if not all(ticket.done for ticket in tickets):
                self._commit_queued()
        if self._parallel > 1:  # another committer may have taken them and be committing them still
            with self._answered:
                self._answered.wait_for(lambda: all(ticket.done for ticket in tickets))
        for ticket in tickets:
            if ticket.error is not None:
                raise ticket.error
        return [ticket.result for ticket in tickets]  # type: ignore[misc]  # set with done, unless error

    async def submit_async(self, item: _Item) -> _Result:
        """`submit` for a coroutine: the committer thread commits `item` while the loop serves others."""
        ticket: _Ticket[_Item, _Result] = _Ticket(item, future=asyncio.get_running_loop().create_future())
        with self._queue_lock:
            self._queue.append(ticket)
            schedule, self._drain_scheduled = not self._drain_scheduled, True
            if self._committer is None:
                self._committer = ThreadPoolExecutor(self._parallel, thread_name_prefix=self._name)
        if schedule:
            self._committer.submit(self._drain)
        assert ticket.future is not None
        return await ticket.future

    def _drain(self) -> None:
        """A committer thread's turn: commit what the loops queued (a thread may have already)."""
        with self._writers:
            with self._queue_lock:
                self._drain_scheduled = False
            self._commit_queued()

    def _commit_queued(self) -> None:
        """Commit the queue as one group and answer every caller in it; holds a writer's place."""
        with self._queue_lock:
            group, self._queue = self._queue, []
        if not group:
            return
        try:
            outcomes = self._commit([t.item for t in group])
        except BaseException as exc:  # the whole group failed: every caller hears why
            outcomes = [exc] * len(group)
        answers: dict[asyncio.AbstractEventLoop, list[tuple[_Ticket[_Item, _Result], object]]] = {}
        for ticket, outcome in zip(group, outcomes, strict=True):
            if ticket.future is not None:
                answers.setdefault(ticket.future.get_loop(), []).append((ticket, outcome))
            elif isinstance(outcome, BaseException):
                ticket.error = outcome
            else:
                ticket.result = outcome
            ticket.done = True
        if self._parallel > 1:
            with self._answered:
                self._answered.notify_all()
        for loop, answered in answers.items():  # one wake-up per loop, not per caller
            if not loop.is_closed():  # else its callers are gone with it
                loop.call_soon_threadsafe(_answer, answered)


def _answer(answered: list[tuple[_Ticket[_Item, _Result], object]]) -> None:
    """On the callers' loop: resolve each waiting future (a caller that gave up is skipped)."""
    for ticket, outcome in answered:
        future = ticket.future
        if future is None or future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]
