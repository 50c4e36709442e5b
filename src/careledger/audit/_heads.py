"""The audit log as an anchoring source: its heads, anchored on chain (RecordAnchor, kind AUDIT) by the node."""

from __future__ import annotations

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from careledger.anchoring import Taken, TimedRows
from careledger.chain import AnchorKind
from careledger.errors import Conflict
from careledger.store import AUDIT_EVENTS

_COLUMNS = AUDIT_EVENTS.c


class AuditHeads(TimedRows):
    """The audit log as an anchoring source: a batch's root is the hash of its newest entry."""

    kind = AnchorKind.AUDIT
    batch_column = _COLUMNS.batch_id
    time_column = _COLUMNS.recorded_at

    def take(self, connection: Connection, limit: int) -> Taken | None:
        """The heads to anchor next (at most `limit`), as anchor leaves."""
        rows = connection.execute(
            select(_COLUMNS.seq, _COLUMNS.hash).where(_COLUMNS.batch_id.is_(None)).order_by(_COLUMNS.seq).limit(limit)
        ).all()
        if not rows:
            return None
        first, last = int(rows[0][0]), int(rows[-1][0])

        def assign(session: Session, batch_id: int) -> None:
            """Record which anchored batch holds the heads just taken."""
            assigned = session.connection().execute(
                update(AUDIT_EVENTS)
                .where(_COLUMNS.seq >= first, _COLUMNS.seq <= last, _COLUMNS.batch_id.is_(None))
                .values(batch_id=batch_id)
            )
            if assigned.rowcount != len(rows):
                raise Conflict("another anchorer took some of these audit entries first; this batch is dropped")

        return Taken(bytes(rows[-1][1]), len(rows), assign)
