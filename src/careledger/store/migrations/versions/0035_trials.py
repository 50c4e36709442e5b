"""Clinical trials (`careledger.trials`): sealed randomisation seeds, trial definitions, a site's visits and their
payments, and the safety reports received.

`trial_seeds`: each seed this node's sponsor drew, sealed, by its hash. `trial_definitions`: each version's protocol
document; `trial_drafts`: a document kept before the transaction that registers it.
`trial_visits`: each visit's CRF record (id, version, visit salt: sealed), complete or not, its visit
leaf's anchoring and its payment. `trial_safety_reports`:
serious adverse events' reports from sites, sealed. Keyed by trial id and the participant's commitment: no table
names a patient beside a trial.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "trial_seeds",
        sa.Column("trial_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seed_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("sponsor", sa.String(42), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "trial_definitions",
        sa.Column("trial_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "trial_drafts",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "trial_visits",
        sa.Column("trial_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("participant", sa.LargeBinary(32), primary_key=True),
        sa.Column("visit", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("entered", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("anchor_batches.id"), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof", sa.Text(), nullable=True),
        sa.Column("paid_tx", sa.String(66), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_trial_visits_batch_id", "trial_visits", ["batch_id"])
    op.create_index("ix_trial_visits_paid_tx", "trial_visits", ["paid_tx"])
    op.create_table(
        "trial_safety_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(42), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("received", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trial_safety_reports_trial_id", "trial_safety_reports", ["trial_id"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_trial_safety_reports_trial_id", table_name="trial_safety_reports")
    op.drop_table("trial_safety_reports")
    op.drop_index("ix_trial_visits_paid_tx", table_name="trial_visits")
    op.drop_index("ix_trial_visits_batch_id", table_name="trial_visits")
    op.drop_table("trial_visits")
    op.drop_table("trial_drafts")
    op.drop_table("trial_definitions")
    op.drop_table("trial_seeds")
