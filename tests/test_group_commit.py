"""Group commit: callers from threads and from an event loop, committed in groups, each answered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from careledger._group_commit import GroupCommit


class Ledger:
    """A commit function that records its groups; items over 100 fail on their own, item 13 fails the group."""

    def __init__(self, *, slow: threading.Event | None = None) -> None:
        self.groups: list[list[int]] = []
        self.slow = slow
        self.entered = threading.Event()  # a commit has begun

    def commit(self, items: Sequence[int]) -> list[int | BaseException]:
        self.entered.set()
        if self.slow is not None:
            self.slow.wait(5)
        if 13 in items:
            raise OSError("disk full")
        self.groups.append(list(items))
        return [ValueError(f"{item} is too large") if item > 100 else item * 2 for item in items]


def test_a_lone_thread_commits_its_own_item() -> None:
    ledger = Ledger()
    commits = GroupCommit(ledger.commit, name="test")
    assert commits.submit(4) == 8
    assert ledger.groups == [[4]]
    with pytest.raises(ValueError, match="101 is too large"):
        commits.submit(101)


def test_items_from_an_event_loop_are_committed_in_groups_and_each_answered() -> None:
    ledger = Ledger()
    commits = GroupCommit(ledger.commit, name="test")

    async def many() -> list[int | BaseException]:
        return await asyncio.gather(
            *(commits.submit_async(n) for n in range(20, 70)), commits.submit_async(500), return_exceptions=True
        )

    results = asyncio.run(many())
    assert results[:50] == [n * 2 for n in range(20, 70)]
    assert isinstance(results[50], ValueError)
    assert sorted(item for group in ledger.groups for item in group) == [*range(20, 70), 500]
    assert len(ledger.groups) < 51  # queued while the committer was busy, committed together


def test_a_failed_group_fails_every_caller_in_it() -> None:
    release = threading.Event()
    ledger = Ledger(slow=release)
    commits = GroupCommit(ledger.commit, name="test")

    async def two() -> list[int | BaseException]:
        first = asyncio.ensure_future(commits.submit_async(1))
        await asyncio.to_thread(ledger.entered.wait, 5)  # the committer holds item 1; 12 and 13 queue behind it
        rest = asyncio.gather(commits.submit_async(12), commits.submit_async(13), return_exceptions=True)
        await asyncio.sleep(0.05)
        release.set()
        return [await first, *await rest]

    first, twelve, thirteen = asyncio.run(two())
    assert first == 2
    assert isinstance(twelve, OSError)
    assert isinstance(thirteen, OSError)
    assert ledger.groups == [[1]]


def test_a_thread_commits_what_a_loop_queued_and_the_loop_hears_it() -> None:
    release = threading.Event()
    ledger = Ledger(slow=release)
    commits = GroupCommit(ledger.commit, name="test")
    from_thread: list[int] = []

    async def scenario() -> int:
        holder = threading.Thread(target=lambda: from_thread.append(commits.submit(7)))
        holder.start()
        await asyncio.to_thread(ledger.entered.wait, 5)  # the thread holds the writer's lock, stuck in commit(7)
        waiting = asyncio.ensure_future(commits.submit_async(8))
        late = threading.Thread(target=lambda: from_thread.append(commits.submit(9)))
        late.start()
        await asyncio.sleep(0.05)
        release.set()
        result = await waiting
        holder.join()
        late.join()
        return result

    assert asyncio.run(scenario()) == 16
    assert sorted(from_thread) == [14, 18]
    assert sorted(item for group in ledger.groups for item in group) == [7, 8, 9]
    assert ledger.groups[0] == [7]


def test_several_items_from_one_thread_are_one_group() -> None:
    ledger = Ledger()
    commits = GroupCommit(ledger.commit, name="test")
    assert commits.submit_all([1, 2, 3]) == [2, 4, 6]
    assert ledger.groups == [[1, 2, 3]]
    with pytest.raises(ValueError, match="101 is too large"):
        commits.submit_all([5, 101])


@pytest.mark.parametrize("parallel", [1, 2])
def test_parallel_groups_commit_at_once_and_each_caller_hears_its_own(parallel: int) -> None:
    inside = threading.Barrier(2, timeout=2)
    entered = threading.Event()
    met: list[bool] = []

    def commit(items: Sequence[int]) -> list[int]:
        entered.set()
        try:
            inside.wait()  # both groups are being committed at this moment
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        return [item * 2 for item in items]

    commits = GroupCommit(commit, name="test", parallel=parallel)

    async def loop_caller() -> int:
        return await commits.submit_async(3)

    from_thread: list[int] = []
    thread = threading.Thread(target=lambda: from_thread.append(commits.submit(4)))
    thread.start()
    assert entered.wait(5)  # the thread's group is being committed: the loop's item is a group of its own
    assert asyncio.run(loop_caller()) == 6
    thread.join(5)
    assert from_thread == [8]
    assert met == ([True, True] if parallel == 2 else [False, False])
