"""The audit log's event text is stored sealed under the node's audit key.

Like the blind index (0006), sealing needs a key a migration does not have: this revision
marks a database that holds audit entries as `pending`, and the audit log seals their
text in place the next time the node opens it (`AuditLog.seal_plaintext`), then marks it
`done`. A new database is `done` from the start.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    holds_entries = op.get_bind().execute(sa.text("SELECT 1 FROM audit_events LIMIT 1")).first() is not None
    op.get_bind().execute(
        sa.text("INSERT INTO node_state (name, value) VALUES ('sealed_audit', :value)"),
        {"value": "pending" if holds_entries else "done"},
    )


def downgrade() -> None:
    """Undo this revision."""
    op.get_bind().execute(sa.text("DELETE FROM node_state WHERE name = 'sealed_audit'"))
