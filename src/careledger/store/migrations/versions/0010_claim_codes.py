"""One-time codes with which a patient claims the custodial identity the node made for her.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "claim_codes",
        sa.Column("patient", sa.String(42), primary_key=True),
        sa.Column("sealed_code", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(42), nullable=True),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("claim_codes")
