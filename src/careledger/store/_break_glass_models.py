"""The review queue of break-glass uses (careledger.access), apart from `models.py`, which is at the house's size
limit; importing the `store` package registers it on the same `Base`, so Alembic and the checks see it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careledger.store.models import Base


class EmergencyReview(Base):
    """One break-glass use awaiting, or holding, its review: under the number of the audit entry that recorded it.

    Written in the transaction that opens the window (`EmergencyAccess`) and audits it, so no use escapes the
    queue. The verdict, the note, the reviewer and the time are set once, from empty; a row with a verdict is
    never changed again (the update that records one asks for an empty verdict).
    """

    __tablename__ = "break_glass_reviews"

    entry: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # audit_events.seq
    emergency_id: Mapped[int] = mapped_column(ForeignKey("emergency_accesses.id"), unique=True)
    reviewer: Mapped[str | None] = mapped_column(String(42))
    verdict: Mapped[str | None] = mapped_column(String(16), index=True)  # justified | unjustified
    note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
