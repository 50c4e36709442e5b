"""Consent index (grants, delegations), break-glass windows, and the hash-chained audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "consent_grants",
        sa.Column("grant_id", sa.String(66), primary_key=True),
        sa.Column("patient", sa.String(42), nullable=False),
        sa.Column("grantee", sa.String(42), nullable=False, index=True),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("purposes", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("granted_by", sa.String(42), nullable=False),
        sa.Column("granted_block", sa.BigInteger(), nullable=False),
        sa.Column("revoked_block", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_consent_grants_pair", "consent_grants", ["patient", "grantee"])
    op.create_table(
        "consent_delegations",
        sa.Column("patient", sa.String(42), primary_key=True),
        sa.Column("delegate", sa.String(42), primary_key=True),
        sa.Column("categories", sa.Integer(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "emergency_accesses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("practitioner", sa.String(42), nullable=False),
        sa.Column("patient", sa.String(42), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.Column("reason_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_emergency_accesses_pair", "emergency_accesses", ["practitioner", "patient"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("patient", sa.String(42), nullable=True, index=True),
        sa.Column("agent", sa.String(42), nullable=False, index=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("anchor_batches.id"), nullable=True, index=True),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("audit_events")
    op.drop_table("emergency_accesses")
    op.drop_table("consent_delegations")
    op.drop_table("consent_grants")
