"""Messages' read receipts: who has read which message of a thread, and when (`careledger.telehealth`).

A row per participant of each message (the sender's read when sent). The reader is a blind token (a keyed hash
of her wallet, the key in the node's home), so the table tells no one who writes to whom; a message's text is
only in its record, sealed.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "message_receipts",
        sa.Column("reader", sa.String(32), primary_key=True),
        sa.Column("communication_id", sa.String(64), primary_key=True),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("read_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_message_receipts_reader_thread", "message_receipts", ["reader", "thread_id"])
    op.create_index("ix_message_receipts_communication_id", "message_receipts", ["communication_id"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_message_receipts_communication_id", table_name="message_receipts")
    op.drop_index("ix_message_receipts_reader_thread", table_name="message_receipts")
    op.drop_table("message_receipts")
