"""Import checkpoints in the database beside the records they count; no is_current index.

SQLite chose the boolean `is_current` index for reads by id (`record_id = ? AND
is_current = 1`), scanning every current row instead of one record's versions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "import_checkpoints",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("done", sa.Integer(), nullable=False),
    )
    op.drop_index("ix_record_versions_is_current", table_name="record_versions")


def downgrade() -> None:
    """Undo this revision."""
    op.create_index("ix_record_versions_is_current", "record_versions", ["is_current"])
    op.drop_table("import_checkpoints")
