"""CDS Hooks clients and the feedback they send on cards.

`cds_clients`: each EHR allowed to call the node's CDS services, by the `iss` of the JWTs it signs, with its
public keys inline (`jwks`) or the one URL they are fetched from (`jku`). `cds_feedback`: what became of a card
(accepted or overridden, the override reason's coding, when), by the card's uuid.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "cds_clients",
        sa.Column("iss", sa.String(255), primary_key=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("jku", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("card", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("iss", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.String(40), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_cds_feedback_card", "cds_feedback", ["card"])
    op.create_index("ix_cds_feedback_service", "cds_feedback", ["service"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_cds_feedback_service", "cds_feedback")
    op.drop_index("ix_cds_feedback_card", "cds_feedback")
    op.drop_table("cds_feedback")
    op.drop_table("cds_clients")
