"""The privacy budget each node keeps per study, in whole millionths of epsilon: every charge rounded up, so no
query is ever free, and no run of small queries spends more than the study allows.

```
query's epsilon (as the sponsor wrote it) ─► millionths, rounded up ─┐
study's epsilon (on chain, thousandths)   ─► millionths, rounded down ┴─► spent + charge ≤ budget? ─► spent += charge
```

A float is read as the decimal it prints as (its shortest repr: what the sponsor typed), so
0.1 is charged 100,000 units, not 100,001 for the binary tail of 0.1. Integers add up
exactly; a float account would lose a spend smaller than its rounding.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy import select

from careledger.errors import AccessDenied
from careledger.store import Database, StudyBudget

UNITS_PER_EPSILON = 1_000_000
# The smallest epsilon a query may spend: one unit. Anything smaller would round up to a unit
# anyway, and a mechanism at such an epsilon answers with noise alone.
MIN_EPSILON = 1 / UNITS_PER_EPSILON
MAX_EPSILON = 10.0  # one query; a study's whole budget may be larger


def charge_units(epsilon: float) -> int:
    """What spending `epsilon` costs, in units: rounded up, against the spender."""
    return _units(epsilon, ROUND_CEILING)


def limit_units(epsilon: float) -> int:
    """A budget of `epsilon`, in units: rounded down, against the spender."""
    return _units(epsilon, ROUND_FLOOR)


def epsilon_of(units: int) -> float:
    """`units` as epsilon, for people."""
    return units / UNITS_PER_EPSILON


def spend(db: Database, contract: str, study_id: int, budget: float, epsilon: float) -> float:
    """Take `epsilon` from study `study_id`'s `budget` on this node, in one transaction; the epsilon left after it.
    `AccessDenied`, and nothing taken, if it would go past the budget."""
    cost, limit = charge_units(epsilon), limit_units(budget)
    with db.session() as session:
        row = session.scalars(
            select(StudyBudget)
            .where(StudyBudget.contract == contract, StudyBudget.study_id == study_id)
            .with_for_update()
        ).first()
        if row is None:
            row = StudyBudget(contract=contract, study_id=study_id, spent_micro=0)
            session.add(row)
        if row.spent_micro + cost > limit:
            left = epsilon_of(max(limit - row.spent_micro, 0))
            raise AccessDenied(f"the query's epsilon {epsilon} is past study {study_id}'s budget here ({left} left)")
        row.spent_micro += cost
        return epsilon_of(limit - row.spent_micro)


def _units(epsilon: float, rounding: str) -> int:
    return int((Decimal(repr(float(epsilon))) * UNITS_PER_EPSILON).to_integral_value(rounding=rounding))
