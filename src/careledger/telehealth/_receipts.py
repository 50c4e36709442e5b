"""Read receipts of messages: a row per participant of each message, keyed by a blind token of her wallet.

```
wallet ─HMAC-SHA256(messages key)─► reader token ─► message_receipts (reader, communication, thread, read at)
```

The token is what the table and the notification channel carry instead of a wallet, so neither a copy of the
database nor a listener on PostgreSQL's channel learns who writes to whom; only the node, holding the key,
tells a wallet's rows.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from careledger.store import Database
from careledger.store.models import MessageReceipt

_TOKEN_BYTES = 16


class Readers:
    """Blind tokens of wallets, under one node's key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, wallet: str) -> str:
        """The token `wallet` is known by in receipts and notifications (case-insensitive in the wallet)."""
        mac = hmac.new(self._key, b"careledger message reader\x1f" + wallet.lower().encode(), hashlib.sha256)
        return mac.digest()[:_TOKEN_BYTES].hex()


@dataclass(frozen=True, slots=True)
class Unread:
    """A reader's unread messages: how many in all, and how many per thread (threads with none left out)."""

    total: int
    threads: dict[str, int]

    def as_json(self) -> dict[str, object]:
        """As JSON: the total and the per-thread counts."""
        return {"unread": self.total, "threads": self.threads}


class Receipts:
    """The `message_receipts` table: who was sent which message, and when she read it."""

    def __init__(self, db: Database, readers: Readers, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.readers = readers
        self._clock = clock

    def add(self, session: Session, communication_id: str, thread_id: str, sender: str, to: Iterable[str]) -> None:
        """Rows for a new message, in the transaction that stores it: the sender's read now, the others' unread."""
        now = self._clock()
        rows = {self.readers.token(sender): now} | {self.readers.token(w): None for w in to if w != sender}
        session.add_all(
            MessageReceipt(reader=reader, communication_id=communication_id, thread_id=thread_id, read_at=at)
            for reader, at in rows.items()
        )

    def record(self, communication_id: str, thread_id: str, sender: str, to: Iterable[str]) -> None:
        """`add`, in a transaction of its own: for a message stored already (one another node delivered)."""
        with self._db.session() as session:
            self.add(session, communication_id, thread_id, sender, to)

    def mark(self, reader: str, communication_ids: Iterable[str]) -> int:
        """Mark the messages `reader` was sent among `communication_ids` read now (those read already keep their
        time); how many she was sent."""
        ids = list(communication_ids)
        token = self.readers.token(reader)
        mine = (MessageReceipt.reader == token) & MessageReceipt.communication_id.in_(ids)
        with self._db.writing() as connection:
            connection.execute(
                update(MessageReceipt).where(mine, MessageReceipt.read_at.is_(None)).values(read_at=self._clock())
            )
            return int(connection.execute(select(func.count()).where(mine)).scalar_one())

    def unread(self, reader: str) -> Unread:
        """`reader`'s unread messages, per thread."""
        statement = (
            select(MessageReceipt.thread_id, func.count())
            .where(MessageReceipt.reader == self.readers.token(reader), MessageReceipt.read_at.is_(None))
            .group_by(MessageReceipt.thread_id)
        )
        with self._db.reading() as connection:
            threads = {str(thread): int(count) for thread, count in connection.execute(statement)}
        return Unread(sum(threads.values()), threads)

    def threads(self, reader: str) -> list[str]:
        """The threads `reader` takes part in, each once."""
        statement = select(MessageReceipt.thread_id).where(MessageReceipt.reader == self.readers.token(reader))
        with self._db.reading() as connection:
            return list(dict.fromkeys(str(row[0]) for row in connection.execute(statement)))

    def read_at(self, communication_id: str, readers: Iterable[str]) -> dict[str, float | None]:
        """When each of `readers` who was sent the message read it (None: not yet); those not sent it left out."""
        by_token = {self.readers.token(wallet): wallet for wallet in readers}
        statement = select(MessageReceipt.reader, MessageReceipt.read_at).where(
            MessageReceipt.communication_id == communication_id, MessageReceipt.reader.in_(list(by_token))
        )
        with self._db.reading() as connection:
            return {by_token[str(reader)]: at for reader, at in connection.execute(statement)}
