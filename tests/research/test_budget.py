"""The privacy budget's account: epsilon in whole millionths, every charge rounded up, and the budgets spent
before this unit (thousandths) read the same after the migration."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from careledger.research._budget import UNITS_PER_EPSILON, charge_units, epsilon_of, limit_units
from careledger.store import Database, StudyBudget, sqlite_url
from careledger.store._database import MIGRATIONS


@pytest.mark.parametrize(
    ("epsilon", "units"),
    [(0.1, 100_000), (0.00049, 490), (0.0000015, 2), (1e-6, 1), (0.29, 290_000), (10.0, 10_000_000)],
)
def test_a_charge_is_the_epsilon_as_written_in_millionths_rounded_up(epsilon: float, units: int) -> None:
    assert charge_units(epsilon) == units


@given(st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10), places=9))
def test_a_charge_is_never_less_than_the_epsilon_and_less_than_one_unit_more(written: Decimal) -> None:
    units = charge_units(float(written))
    assert Decimal(units) / UNITS_PER_EPSILON >= written
    assert Decimal(units - 1) / UNITS_PER_EPSILON < written


def test_a_budget_is_rounded_down_and_reads_back_as_epsilon() -> None:
    assert limit_units(0.1) == 100_000  # 0.1 is a hair above a tenth as a float: no extra unit for the spender
    assert limit_units(0.0000019) == 1
    assert epsilon_of(99_510) == 0.09951
    assert math.isclose(epsilon_of(limit_units(2.5)), 2.5)


def test_a_budget_spent_in_thousandths_reads_the_same_in_millionths_after_the_migration(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "old.db"))
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0014")  # budgets in thousandths of epsilon
            connection.execute(text("INSERT INTO study_budgets VALUES ('0xResearch', 7, 450)"))

        database.migrate()

        with database.session() as session:
            spent = session.get(StudyBudget, ("0xResearch", 7))
            assert spent is not None
            assert spent.spent_micro == 450_000
    finally:
        database.close()
