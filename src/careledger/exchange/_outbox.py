"""The courier's outbox: messages sealed for a node that did not answer, kept in the database to be tried again.

```
send ─ 5xx or silence after its retries ─► keep(parcel): a row of sealed content, due in RETRY_AFTER s
leader's round ─► due() ─► posted again: arrived or refused ─► gone
                                         silence again     ─► later(): due after twice as long (≤ MAX_WAIT)
                                         kept KEEP_SECONDS ─► given up ─► gone
```

A row holds what a delivery signs but its nonce and expiry (signed afresh at each attempt): the receiving node,
the patient's address and the sealed content. The message's text is never in the database in the clear.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from careledger.store import Database
from careledger.store.models import OutboxParcel

RETRY_AFTER = 5.0  # seconds before a queued message is first tried again; doubled each time after
MAX_WAIT = 600.0  # the longest wait between two attempts
KEEP_SECONDS = 86_400.0  # a message no attempt delivered in this long is given up (and said so in the log)


@dataclass(frozen=True, slots=True)
class Queued:
    """A message its node did not take yet: kept in the outbox (`parcel_id`), tried again in the background."""

    receiver: str
    parcel_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Waiting:
    """A queued message as the outbox holds it: whom it goes to, whose it is, its sealed content, its history."""

    parcel_id: str
    receiver: str
    patient: str
    content: dict[str, str]
    attempts: int
    queued_at: float


class Outbox:
    """The queued messages of one node (every worker sees the same; the leader tries them)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def keep(self, receiver: str, patient: str, content: dict[str, str]) -> str:
        """Queue sealed `content` for `receiver`, due in `RETRY_AFTER` seconds; its parcel id."""
        now, parcel_id = self._clock(), str(uuid.uuid4())
        row = OutboxParcel(
            parcel_id=parcel_id,
            receiver=receiver,
            patient=patient,
            content=json.dumps(content),
            attempts=1,
            queued_at=now,
            next_attempt=now + RETRY_AFTER,
        )
        with self._db.session() as session:
            session.add(row)
        return parcel_id

    def due(self, limit: int) -> list[Waiting]:
        """The `limit` queued messages due soonest whose time has come."""
        query = (
            select(OutboxParcel)
            .where(OutboxParcel.next_attempt <= self._clock())
            .order_by(OutboxParcel.next_attempt)
            .limit(limit)
        )
        with self._db.session() as session:
            return [
                Waiting(r.parcel_id, r.receiver, r.patient, json.loads(r.content), r.attempts, r.queued_at)
                for r in session.scalars(query)
            ]

    def done(self, parcel_id: str) -> None:
        """Forget a queued message: it arrived, was refused, or was given up."""
        with self._db.session() as session:
            session.execute(delete(OutboxParcel).where(OutboxParcel.parcel_id == parcel_id))

    def later(self, waiting: Waiting) -> bool:
        """Another attempt failed: due again after twice the last wait (at most `MAX_WAIT`). False if it has been
        kept `KEEP_SECONDS` already: then it is forgotten (given up)."""
        now = self._clock()
        if now - waiting.queued_at >= KEEP_SECONDS:
            self.done(waiting.parcel_id)
            return False
        wait = min(MAX_WAIT, RETRY_AFTER * 2**waiting.attempts)
        statement = (
            update(OutboxParcel)
            .where(OutboxParcel.parcel_id == waiting.parcel_id)
            .values(attempts=waiting.attempts + 1, next_attempt=now + wait)
        )
        with self._db.session() as session:
            session.execute(statement)
        return True

    def __len__(self) -> int:
        """How many messages wait."""
        with self._db.session() as session:
            return session.scalar(select(func.count()).select_from(OutboxParcel)) or 0


def forget_outbox(session: Session, patient: str) -> int:
    """Delete `patient`'s messages waiting in the outbox, in the caller's transaction (her erasure of all her
    records: sealed, but copies all the same); how many went."""
    return session.connection().execute(delete(OutboxParcel).where(OutboxParcel.patient == patient)).rowcount
