"""Search tokens from the specification's search parameters: longer term names, and every record re-indexed.

Term names are a parameter's code and a suffix (`name:exact`, `subject:identifier`), up to
64 characters; the index by patient and type, which no search used, is dropped. The tokens
themselves need the node's index key and the decrypted records, which a migration does not
have, so this revision only marks a database that holds records as `pending` again: the
record service rebuilds every current record's tokens (now keyed BLAKE2b, see
`records/_blind_index.py`) the next time the node opens it (`RecordService.upgrade_index`),
in one transaction.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("record_tokens") as table:
        table.alter_column("param", type_=sa.String(64), existing_type=sa.String(32), existing_nullable=False)
    # No search reads tokens by patient: with four times the rows per record, an index nobody uses costs writes.
    op.drop_index("ix_record_tokens_patient_type", table_name="record_tokens")
    holds_records = op.get_bind().execute(sa.text("SELECT 1 FROM record_versions LIMIT 1")).first() is not None
    if holds_records:
        op.execute(sa.text("UPDATE node_state SET value = 'pending' WHERE name = 'blind_index'"))


def downgrade() -> None:
    """Undo this revision (the tokens stay as they are: an older node rebuilds nothing, so searches miss)."""
    op.create_index("ix_record_tokens_patient_type", "record_tokens", ["patient_id", "resource_type"])
    with op.batch_alter_table("record_tokens") as table:
        table.alter_column("param", type_=sa.String(32), existing_type=sa.String(64), existing_nullable=False)
