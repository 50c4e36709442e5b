"""Nonces of the signed node-to-node fetch requests a custodian answered (replay protection).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "exchange_nonces",
        sa.Column("requester", sa.String(42), primary_key=True),
        sa.Column("nonce", sa.String(66), primary_key=True),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_exchange_nonces_expiry", "exchange_nonces", ["expiry"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_exchange_nonces_expiry", table_name="exchange_nonces")
    op.drop_table("exchange_nonces")
