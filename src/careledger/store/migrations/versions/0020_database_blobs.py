"""Blobs kept in the database, so every worker (and a second host) reaches them.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "blobs",
        sa.Column("cid", sa.String(100), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Ciphertext does not compress: keep PostgreSQL from trying on every row it moves out of line.
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    """Undo this revision (blobs kept in the database go with it: move them first with `blobs migrate`)."""
    op.drop_table("blobs")
