"""How fast claims may fail: the per-key budgets, in the database's buckets, counted once however many workers."""

from __future__ import annotations

import pytest

from careledger.access._claim_limits import CODE_FAILURES, FailureBudget
from careledger.errors import TooMany
from careledger.shared import Buckets
from careledger.store import Database


def _budget(database: Database, now: list[float]) -> FailureBudget:
    """One worker's budget of wrong tries per code, over the node's database."""
    return FailureBudget(Buckets(database, clock=lambda: now[0]), "claim-code", CODE_FAILURES, 600.0, refusal="{wait}")


def test_workers_spend_one_budget_and_a_flood_of_new_keys_resets_no_one(database: Database) -> None:
    now = [1_000_000.0]
    here, there = _budget(database, now), _budget(database, now)
    for worker in [here, there] * (CODE_FAILURES // 2) + [here] * (CODE_FAILURES % 2):
        worker.check("Patient/hers")
        worker.take("Patient/hers")
    for worker in (here, there):  # N workers allow what one does, not N times as much
        with pytest.raises(TooMany, match="10") as refused:
            worker.check("Patient/hers")
        assert refused.value.retry_after == pytest.approx(600)
        with pytest.raises(TooMany):
            worker.take("Patient/hers")
    for n in range(200):  # ids that name no one, each a key of its own
        there.spend(f"nobody-{n}")
    with pytest.raises(TooMany):
        here.check("Patient/hers")
    now[0] += 600  # one more try a refill later, at either worker, and only one
    there.take("Patient/hers")
    with pytest.raises(TooMany):
        here.take("Patient/hers")
    here.forget("Patient/hers")  # a new code: a full budget, at every worker
    there.check("Patient/hers")
