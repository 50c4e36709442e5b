"""The blind index: search tokens and categories become keyed hashes (issue: the disk gives nothing away).

The hashes need the node's index key, which a migration does not have, so this revision
only marks a database that holds records as `pending`; the record service rebuilds its
tokens and category tags the next time the node opens it (`RecordService.upgrade_index`),
in one transaction, and marks it `done`. A new database is `done` from the start.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    state = op.create_table(
        "node_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )
    op.create_index("ix_record_tokens_param_system", "record_tokens", ["param", "system"])
    holds_records = op.get_bind().execute(sa.text("SELECT 1 FROM record_versions LIMIT 1")).first() is not None
    op.bulk_insert(state, [{"name": "blind_index", "value": "pending" if holds_records else "done"}])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_record_tokens_param_system", table_name="record_tokens")
    op.drop_table("node_state")
