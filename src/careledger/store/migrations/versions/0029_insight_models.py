"""Federated models a node keeps: each model's weights and card under its id on the ModelRegistry.

`insight_models`: keyed by the registry's address and the model's id (keccak of study id and version); the
weights as bytes, the card as the canonical JSON its hash on chain was taken of. Nothing clinical: a model is
numbers, its card features, nodes and metrics.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "insight_models",
        sa.Column("contract", sa.String(42), primary_key=True),
        sa.Column("model_id", sa.String(66), primary_key=True),
        sa.Column("study_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_insight_models_study_id", "insight_models", ["study_id"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_insight_models_study_id", table_name="insight_models")
    op.drop_table("insight_models")
