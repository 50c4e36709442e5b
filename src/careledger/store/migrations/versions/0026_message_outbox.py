"""The courier's outbox: messages sealed for another node that did not answer, tried again until it does
(`careledger.exchange`). A row holds the sealed content only (ciphertext and its data key sealed to the receiving
node), whom it goes to and whose it is; the message's text is never in it.

Revision ID: 0026
Revises: 0023 (0024 and 0025 were left to helpers who did not need them)
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "message_outbox",
        sa.Column("parcel_id", sa.String(36), primary_key=True),
        sa.Column("receiver", sa.String(42), nullable=False),
        sa.Column("patient", sa.String(42), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.Float(), nullable=False),
        sa.Column("next_attempt", sa.Float(), nullable=False),
    )
    op.create_index("ix_message_outbox_next_attempt", "message_outbox", ["next_attempt"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_message_outbox_next_attempt", table_name="message_outbox")
    op.drop_table("message_outbox")
