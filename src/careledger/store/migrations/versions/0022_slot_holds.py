"""Slot holds: which Appointment holds which Slot, one row per slot, so two bookings of one slot cannot both commit.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "slot_holds",
        sa.Column("slot_id", sa.String(64), primary_key=True),
        sa.Column("appointment_id", sa.String(64), nullable=False, index=True),
        sa.Column("held_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("slot_holds")
