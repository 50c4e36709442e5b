"""A refresh token keeps its EHR launch's context (patient, encounter); a client may be a resource server.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("refresh_tokens") as table:
        table.add_column(sa.Column("launch_patient", sa.String(64), nullable=True))
        table.add_column(sa.Column("launch_encounter", sa.String(64), nullable=True))
    with op.batch_alter_table("oauth_clients") as table:
        table.add_column(sa.Column("resource_server", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("oauth_clients") as table:
        table.drop_column("resource_server")
    with op.batch_alter_table("refresh_tokens") as table:
        table.drop_column("launch_encounter")
        table.drop_column("launch_patient")
