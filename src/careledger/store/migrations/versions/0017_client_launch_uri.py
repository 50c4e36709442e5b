"""An app's launch URI: where the portal sends the browser to launch it from a patient's chart (SMART EHR launch).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("oauth_clients") as table:
        table.add_column(sa.Column("launch_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("oauth_clients") as table:
        table.drop_column("launch_uri")
