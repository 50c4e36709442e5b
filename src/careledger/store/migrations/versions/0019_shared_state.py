"""Shared state every worker of a node reads: single-use tickets (SIWE nonces, OAuth codes, launch ids,
picker tickets), portal sessions and rate-limit counts.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "tickets",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False, index=True),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("due", sa.Float(), nullable=False, index=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("rate_buckets")
    op.drop_table("tickets")
