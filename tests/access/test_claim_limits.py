"""How fast claims may fail: the per-key budgets keep their newest keys, whatever floods them."""

from __future__ import annotations

import pytest

from careledger.access._claim_limits import _KEYS_REMEMBERED, CODE_FAILURES, FailureBudget
from careledger.errors import TooMany


def test_a_flood_of_new_keys_forgets_the_oldest_not_a_patient_paced_since() -> None:
    """Ids that name no one, each a key of its own, once there are more than the budget remembers, push out the
    keys that failed longest ago: not every key, so a patient's code paced a moment ago stays paced."""
    now = [0.0]
    budget = FailureBudget(CODE_FAILURES, 600.0, lambda: now[0], refusal="wait {wait} min")
    for n in range(_KEYS_REMEMBERED // 2):
        budget.spend(f"old-{n}")
    for _ in range(CODE_FAILURES):
        budget.check("Patient/hers")
        budget.spend("Patient/hers")
    for n in range(_KEYS_REMEMBERED // 2 + 10):  # the flood: the remembered keys overflow
        budget.spend(f"nobody-{n}")
    with pytest.raises(TooMany, match="wait 10 min"):
        budget.check("Patient/hers")
    budget.check("old-0")  # forgotten: it failed first, and longest ago
