"""Group commit: writes from concurrent callers committed together, each caller answered.

A durable commit (fsync, a database commit) costs about the same for one item as for a
hundred. Callers queue their item; whoever holds the writer's lock commits everything
queued so far in one go, and the callers behind it find their items already committed. A
lone caller pays nothing extra; eight concurrent ones share one commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


@dataclass(slots=True)
class _Ticket(Generic[_Item, _Result]):
    item: _Item
    done: bool = False
    result: _Result | None = None
    error: BaseException | None = field(default=None, repr=False)


class GroupCommit(Generic[_Item, _Result]):
    """Commits queued items in groups with `commit(items) -> one result or exception per item`."""

    def __init__(self, commit: Callable[[Sequence[_Item]], Sequence[_Result | BaseException]]) -> None:
        self._commit = commit
        self._queue: list[_Ticket[_Item, _Result]] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()

    def submit(self, item: _Item) -> _Result:
        """Commit `item` (with whatever else is queued); its result, or its exception raised."""
        ticket: _Ticket[_Item, _Result] = _Ticket(item)
        with self._queue_lock:
            self._queue.append(ticket)
        with self._writer:
            if not ticket.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                try:
                    outcomes = self._commit([t.item for t in group])
                except BaseException as exc:  # the whole group failed: every caller hears why
                    outcomes = [exc] * len(group)
                for waiting, outcome in zip(group, outcomes, strict=True):
                    if isinstance(outcome, BaseException):
                        waiting.error = outcome
                    else:
                        waiting.result = outcome
                    waiting.done = True
        if ticket.error is not None:
            raise ticket.error
        return ticket.result  # type: ignore[return-value]  # set with done, unless error
