"""Each anchored batch keeps the block its `Anchored` event is in, so a proof names its block and transaction
from one block's logs, not from a search of the whole chain on every `$verify` or export.

Batches anchored before this revision (or settled from the chain after a crash) have none: their proofs carry
no block and the verifier looks for the event itself.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    with op.batch_alter_table("anchor_batches") as batch:
        batch.add_column(sa.Column("block", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("anchor_batches") as batch:
        batch.drop_column("block")
