"""Slot holds name their holder and a booking under way: at most a few live holds per patient, and one `$book`
of a hold at a time.

`holder` is the wallet of the patient the holding Appointment is for (the records' index names it already);
`claimed_at` is when a `$book` of the pending hold began (None: none has), so a second submission of the same
hold is refused instead of undoing the first.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("slot_holds") as table:
        table.add_column(sa.Column("holder", sa.String(64), nullable=True))
        table.add_column(sa.Column("claimed_at", sa.Float(), nullable=True))
        table.create_index("ix_slot_holds_holder", ["holder"])


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("slot_holds") as table:
        table.drop_index("ix_slot_holds_holder")
        table.drop_column("claimed_at")
        table.drop_column("holder")
