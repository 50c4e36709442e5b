"""Devices, their bindings and sequence numbers, and the journal of readings not yet stored.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "devices",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("device_record", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(42), nullable=True, index=True),
        sa.Column("patient_record", sa.String(64), nullable=True),
        sa.Column("grant_id", sa.String(66), nullable=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("registered_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "device_readings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(42), nullable=False, index=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("latest_ms", sa.BigInteger(), nullable=False, index=True),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("device_readings")
    op.drop_table("devices")
