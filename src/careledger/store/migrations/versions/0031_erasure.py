"""Erasure by key destruction (`careledger.erasure`): the records erased here, legal holds, and erasure requests
with the nodes each was forwarded to.

`erased_records`: one row per record whose every version had its data keys, blob and tokens destroyed (its
version rows stay, as markers). `legal_holds`: holds staff placed on a patient's records, or one record, until
lifted. `erasure_requests`: each request carried out here, her signed request kept to forward. `erasure_peers`:
per request, each node that fetched copies, and whether it answered. Nothing clinical in any of them.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "erased_records",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("patient", sa.String(42), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("request", sa.String(66), nullable=False),
        sa.Column("erased_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_erased_records_patient", "erased_records", ["patient"])
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient", sa.String(42), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("placed_by", sa.String(42), nullable=False),
        sa.Column("placed_at", sa.Float(), nullable=False),
        sa.Column("lifted_by", sa.String(42), nullable=True),
        sa.Column("lifted_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_legal_holds_patient", "legal_holds", ["patient"])
    op.create_table(
        "erasure_requests",
        sa.Column("request_id", sa.String(66), primary_key=True),
        sa.Column("patient", sa.String(42), nullable=False),
        sa.Column("origin", sa.String(42), nullable=False),
        sa.Column("signed", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_erasure_requests_patient", "erasure_requests", ["patient"])
    op.create_table(
        "erasure_peers",
        sa.Column("request_id", sa.String(66), primary_key=True),
        sa.Column("peer", sa.String(42), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_erasure_peers_next_attempt", "erasure_peers", ["next_attempt"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_erasure_peers_next_attempt", table_name="erasure_peers")
    op.drop_table("erasure_peers")
    op.drop_index("ix_erasure_requests_patient", table_name="erasure_requests")
    op.drop_table("erasure_requests")
    op.drop_index("ix_legal_holds_patient", table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_erased_records_patient", table_name="erased_records")
    op.drop_table("erased_records")
