"""Study budgets are kept in millionths of epsilon, not thousandths: a spend smaller than a thousandth was
rounded to nothing, so a study's sponsor could ask without end at an epsilon under 0.0005.

What was spent keeps its meaning: 450 thousandths become 450,000 millionths. A downgrade
rounds up (a part of a thousandth spent counts as a whole one), against the spender.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("study_budgets") as table:
        table.alter_column("spent_milli", new_column_name="spent_micro", existing_type=sa.BigInteger())
    op.execute(sa.text("UPDATE study_budgets SET spent_micro = spent_micro * 1000"))


def downgrade() -> None:
    """Undo this revision."""
    op.execute(sa.text("UPDATE study_budgets SET spent_micro = (spent_micro + 999) / 1000"))
    with op.batch_alter_table("study_budgets") as table:
        table.alter_column("spent_micro", new_column_name="spent_milli", existing_type=sa.BigInteger())
