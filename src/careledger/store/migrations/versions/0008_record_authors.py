"""Each record version keeps its author, for the access policy's rules about relabelling.

Versions written before this revision have none (NULL): for them only the patient may move
a record out of a sensitive category.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.add_column("record_versions", sa.Column("author", sa.String(42), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    op.drop_column("record_versions", "author")
