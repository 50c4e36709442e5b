"""The node's index of the categories patients keep from a node's care team (ConsentRegistry events).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "care_team_restrictions",
        sa.Column("patient", sa.String(42), primary_key=True),
        sa.Column("custodian", sa.String(42), primary_key=True),
        sa.Column("categories", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("care_team_restrictions")
