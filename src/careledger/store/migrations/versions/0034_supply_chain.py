"""The drug supply chain (`careledger.supplychain`): captured EPCIS events, their EPCs, capture jobs, flags on
packs, and dispenses.

`supply_events`: one row per captured event (its body, the query's columns, its digest and its anchor batch,
leaf and Merkle proof, what it did on chain). `supply_event_epcs`: the EPCs each event names, by role, with
their keys on chain.
`supply_captures`: each capture job (state, event ids, errors). `supply_flags`: packs or lots flagged recalled or
quarantined here. `supply_dispenses`: each pack this node dispensed, by the record id of its MedicationDispense.
No patient is named in any of them.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

_EVENT_INDEXES = ("event_type", "biz_step", "disposition", "event_time", "record_time", "signer", "capture_id")


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""
    op.create_table(
        "supply_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("biz_step", sa.String(255), nullable=True),
        sa.Column("disposition", sa.String(255), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("capture_id", sa.String(36), nullable=False),
        sa.Column("effect", sa.String(16), nullable=False),
        sa.Column("txs", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("anchor_batches.id"), nullable=True, index=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof", sa.Text(), nullable=True),
    )
    for column in _EVENT_INDEXES:
        op.create_index(f"ix_supply_events_{column}", "supply_events", [column])
    op.create_table(
        "supply_event_epcs",
        sa.Column("seq", sa.Integer(), sa.ForeignKey("supply_events.seq"), primary_key=True, autoincrement=False),
        sa.Column("epc", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(8), primary_key=True),
        sa.Column("key", sa.LargeBinary(32), nullable=True),
    )
    op.create_index("ix_supply_event_epcs_epc", "supply_event_epcs", ["epc"])
    op.create_index("ix_supply_event_epcs_key", "supply_event_epcs", ["key"])
    op.create_table(
        "supply_captures",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(42), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("event_ids", sa.Text(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
    )
    op.create_index("ix_supply_captures_created", "supply_captures", ["created"])
    op.create_table(
        "supply_flags",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.LargeBinary(32), nullable=True),
        sa.Column("lot", sa.LargeBinary(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_supply_flags_key", "supply_flags", ["key"])
    op.create_index("ix_supply_flags_lot", "supply_flags", ["lot"])
    op.create_table(
        "supply_dispenses",
        sa.Column("key", sa.LargeBinary(32), primary_key=True),
        sa.Column("lot", sa.LargeBinary(32), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("dispensed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True),
    )
    op.create_index("ix_supply_dispenses_lot", "supply_dispenses", ["lot"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_supply_dispenses_lot", table_name="supply_dispenses")
    op.drop_table("supply_dispenses")
    op.drop_index("ix_supply_flags_lot", table_name="supply_flags")
    op.drop_index("ix_supply_flags_key", table_name="supply_flags")
    op.drop_table("supply_flags")
    op.drop_index("ix_supply_captures_created", table_name="supply_captures")
    op.drop_table("supply_captures")
    op.drop_index("ix_supply_event_epcs_key", table_name="supply_event_epcs")
    op.drop_index("ix_supply_event_epcs_epc", table_name="supply_event_epcs")
    op.drop_table("supply_event_epcs")
    for column in reversed(_EVENT_INDEXES):
        op.drop_index(f"ix_supply_events_{column}", table_name="supply_events")
    op.drop_table("supply_events")
