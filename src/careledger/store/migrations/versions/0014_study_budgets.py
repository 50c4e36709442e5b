"""The privacy budget each study's aggregate queries have spent on this node.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "study_budgets",
        sa.Column("contract", sa.String(42), primary_key=True),
        sa.Column("study_id", sa.BigInteger(), primary_key=True),
        sa.Column("spent_milli", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("study_budgets")
