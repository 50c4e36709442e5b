"""Event cursors: where each chain event reader resumes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "event_cursors",
        sa.Column("stream", sa.String(100), primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("event_cursors")
