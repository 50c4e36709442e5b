"""A break-glass window's reason is stored sealed, as the audit log seals the same text.

`emergency_accesses.reason` keeps its column (text), now `sealed:` and the base64 of AES-256-GCM under the node's
audit key, bound to its window. Sealing needs the key, which a migration does not have (as 0007): this revision
marks a database that holds windows as `pending` (`node_state.sealed_break_glass`), and the node seals their
reasons in place when it next wires its door (`careledger.access.seal_older_reasons`), then marks it `done`;
until then a bare reason is read as it is. A new database is `done` from the start.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    holds_windows = op.get_bind().execute(sa.text("SELECT 1 FROM emergency_accesses LIMIT 1")).first() is not None
    op.get_bind().execute(
        sa.text("INSERT INTO node_state (name, value) VALUES ('sealed_break_glass', :value)"),
        {"value": "pending" if holds_windows else "done"},
    )


def downgrade() -> None:
    """Undo this revision (the reasons sealed stay sealed: only a node holding the key could open them)."""
    op.get_bind().execute(sa.text("DELETE FROM node_state WHERE name = 'sealed_break_glass'"))
