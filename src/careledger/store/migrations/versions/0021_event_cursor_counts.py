"""Each event cursor counts the events indexed up to it, so a worker tells another's span with events from one
without (and keeps its consent cache when nothing changed).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("event_cursors") as batch:
        batch.add_column(sa.Column("events", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("event_cursors") as batch:
        batch.drop_column("events")
