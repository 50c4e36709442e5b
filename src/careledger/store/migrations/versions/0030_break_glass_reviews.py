"""The review queue of break-glass uses: one row per window opened, under its audit entry's number.

`break_glass_reviews`: the audit entry (`audit_events.seq`) that recorded the use, the window
(`emergency_accesses.id`), and, once a privacy officer reviewed it, the reviewer, the verdict (justified or
unjustified), the note and the time. Windows opened before this revision have no row: their audit entries are
found and queued the first time the queue is read (`careledger.access.BreakGlassReviews`).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "break_glass_reviews",
        sa.Column("entry", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("emergency_id", sa.Integer(), sa.ForeignKey("emergency_accesses.id"), nullable=False, unique=True),
        sa.Column("reviewer", sa.String(42), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_break_glass_reviews_verdict", "break_glass_reviews", ["verdict"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_break_glass_reviews_verdict", table_name="break_glass_reviews")
    op.drop_table("break_glass_reviews")
