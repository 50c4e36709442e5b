"""Records: versions with ciphertext ids and commitments, search tokens, anchor batches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "anchor_batches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("root", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "record_versions",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("resource_type", sa.String(64), nullable=False, index=True),
        sa.Column("patient_id", sa.String(64), nullable=True, index=True),
        sa.Column("patient_address", sa.String(42), nullable=False, index=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("cid", sa.String(100), nullable=True),
        sa.Column("sealed_keys", sa.Text(), nullable=True),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.Column("commitment", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False, index=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("anchor_batches.id"), nullable=True, index=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof", sa.Text(), nullable=True),
    )
    op.create_table(
        "record_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(64), nullable=False, index=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("param", sa.String(32), nullable=False),
        sa.Column("system", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_index("ix_record_tokens_param_value", "record_tokens", ["param", "value"])
    op.create_index("ix_record_tokens_patient_type", "record_tokens", ["patient_id", "resource_type"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("record_tokens")
    op.drop_table("record_versions")
    op.drop_table("anchor_batches")
