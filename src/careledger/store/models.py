"""The node's tables, as SQLAlchemy 2 typed models. Schema changes go through Alembic."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Base of every CareLedger table."""


class EventCursor(Base):
    """How far an event reader has read one stream of chain events, per chain.

    The reader handles a range of blocks and moves its cursor in the same database
    transaction, so after a crash it resumes exactly where the last commit left it.
    """

    __tablename__ = "event_cursors"

    stream: Mapped[str] = mapped_column(String(100), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_block: Mapped[int] = mapped_column(BigInteger)
