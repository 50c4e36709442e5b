"""This node's own flags on packs (`supply_flags`): a lot recalled on chain, a pack staff quarantined as suspect.

A recall flags the lot (`key` None), so every pack of it here is flagged however it arrives, before or after; a
quarantine flags one pack (`lot` kept beside, to list it). A flag is lifted (`cleared`), never deleted: when a
pack was set aside, and by whom it was released, stays.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select, update

from careledger.store import Database, SupplyFlag

RECALLED, QUARANTINED = "recalled", "quarantined"


class Flags:
    """The live flags of this node's packs and lots."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = db
        self._clock = clock

    def of(self, key: bytes, lot: bytes | None) -> dict[str, str]:
        """The live flags on pack `key` or on its lot, by kind: each one's reason (the oldest of a kind)."""
        on = [SupplyFlag.key == key]
        if lot is not None:
            on.append((SupplyFlag.lot == lot) & SupplyFlag.key.is_(None))
        query = (
            select(SupplyFlag.kind, SupplyFlag.reason)
            .where(SupplyFlag.cleared.is_(None), or_(*on))
            .order_by(SupplyFlag.since.desc())
        )
        with self._db.session() as session:
            return {kind: reason for kind, reason in session.execute(query)}

    def quarantine(self, key: bytes, lot: bytes | None, reason: str) -> bool:
        """Set pack `key` aside for `reason`; False if it is already quarantined (the first reason stays)."""
        with self._db.session() as session:
            held = session.scalars(select(SupplyFlag.id).where(*self._quarantine_of(key))).first()
            if held is not None:
                return False
            session.add(SupplyFlag(key=key, lot=lot, kind=QUARANTINED, reason=reason, since=self._clock()))
            return True

    def release(self, key: bytes) -> bool:
        """Lift pack `key`'s quarantine; False if it had none."""
        with self._db.session() as session:
            lifted = session.execute(update(SupplyFlag).where(*self._quarantine_of(key)).values(cleared=self._clock()))
            return bool(lifted.rowcount)  # type: ignore[attr-defined]

    def recalled_lots(self) -> dict[bytes, str]:
        """Every lot recalled (as this node followed the chain), with the flag's reason."""
        query = select(SupplyFlag.lot, SupplyFlag.reason).where(
            SupplyFlag.kind == RECALLED, SupplyFlag.key.is_(None), SupplyFlag.cleared.is_(None)
        )
        with self._db.session() as session:
            return {lot: reason for lot, reason in session.execute(query) if lot is not None}

    def quarantined(self) -> dict[bytes, str]:
        """Every pack quarantined here now, with its reason."""
        query = select(SupplyFlag.key, SupplyFlag.reason).where(
            SupplyFlag.kind == QUARANTINED, SupplyFlag.cleared.is_(None)
        )
        with self._db.session() as session:
            return {key: reason for key, reason in session.execute(query) if key is not None}

    @staticmethod
    def _quarantine_of(key: bytes) -> tuple[ColumnElement[bool], ...]:
        return (SupplyFlag.key == key, SupplyFlag.kind == QUARANTINED, SupplyFlag.cleared.is_(None))
