"""Anchor batches of commitments on chain (RecordAnchor), crash-safely, for any kind of batch.

A source (record commitments, audit-log heads) says what is waiting and how to fold a
batch of it into one 32-byte root. Anchoring a batch is three steps, each durable before
the next:

1. prepare: one DB transaction fixes the batch (root, leaf count) and gives each of its
   rows the batch (and whatever the source keeps per row, such as a Merkle proof);
2. send: `RecordAnchor.anchor(root, …)`;
3. settle: after the receipt, the batch is marked anchored.

A crash after 1 or 2 leaves a prepared batch, settled on the next run from the chain
(`is_anchored(root)`): anchored if the transaction made it, sent again if not. The contract
refuses a root twice, so every row is anchored exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy import Column, Connection, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from careledger._failpoints import crash_point
from careledger.chain import AnchorKind, RecordAnchor
from careledger.crypto import MerkleTree
from careledger.errors import Conflict, TransactionReverted
from careledger.store import AnchorBatch, Database

# The contract's proof bound is 255 levels; 1,024 leaves need 10.
MAX_BATCH = 1024


@dataclass(frozen=True, slots=True)
class Taken:
    """A batch a source folded: its root and size, and how to mark its rows as in batch `id`."""

    root: bytes
    leaf_count: int
    assign: Callable[[Session, int], None]


class AnchorSource(Protocol):
    """What waits to be anchored, of one kind."""

    kind: AnchorKind

    def waiting(self, connection: Connection) -> tuple[int, datetime | None]:
        """How many rows wait, and the time of the oldest."""
        ...

    def written(
        self, connection: Connection, since: datetime, until: datetime
    ) -> list[tuple[datetime, datetime | None]]:
        """When each row written from `since` until before `until` was written, and when its batch was anchored
        (None: not yet)."""
        ...

    def take(self, connection: Connection, limit: int) -> Taken | None:
        """Up to `limit` waiting rows folded into one root, or None if none wait.

        Read outside the write transaction (building a tree takes a while and writers need
        not wait for it); `assign` raises `Conflict` if the rows were taken meanwhile.
        """
        ...


class TimedRows:
    """The `waiting` and `written` of a source whose table keeps each row's batch (None: waiting) and the time it
    was written: the audit log's entries, the record versions; alike but for the columns they name."""

    batch_column: ClassVar[Column[Any]]
    time_column: ClassVar[Column[Any]]

    def waiting(self, connection: Connection) -> tuple[int, datetime | None]:
        """How many rows wait for an anchor, and when the oldest of them was written."""
        count, oldest = connection.execute(
            select(func.count(), func.min(self.time_column)).where(self.batch_column.is_(None))
        ).one()
        return int(count or 0), oldest

    def written(
        self, connection: Connection, since: datetime, until: datetime
    ) -> list[tuple[datetime, datetime | None]]:
        """When each row written from `since` until before `until` was written, and anchored (None: not yet)."""
        rows = connection.execute(
            select(self.time_column, AnchorBatch.anchored_at)
            .outerjoin(AnchorBatch, AnchorBatch.id == self.batch_column)
            .where(self.time_column >= since, self.time_column < until)
        )
        return [(written, anchored) for written, anchored in rows]


class LeafRows(TimedRows):
    """A source whose table keeps a 32-byte leaf per row and, once anchored, the row's batch, `leaf_index` and
    `proof` (a JSON list of 0x siblings): captured supply events' digests, a trial site's visit leaves. A batch is
    a Merkle tree of the waiting leaves (sorted-pair keccak256, as RecordAnchor verifies) in `order`; the rows are
    told theirs only if none was taken or changed meanwhile."""

    kind = AnchorKind.RECORDS
    table: ClassVar[Table]
    key_column: ClassVar[Column[Any]]  # what names one row
    leaf_column: ClassVar[Column[Any]]
    order: ClassVar[tuple[Column[Any], ...]]
    taken_meanwhile: ClassVar[str]  # what a batch that lost some of its rows says (a Conflict; it is dropped)

    def take(self, connection: Connection, limit: int) -> Taken | None:
        """The leaves to anchor next (at most `limit`), in `order`."""
        waiting = select(self.key_column, self.leaf_column).where(self.batch_column.is_(None))
        pending = connection.execute(waiting.order_by(*self.order).limit(limit)).all()
        if not pending:
            return None
        tree = MerkleTree([bytes(leaf) for _, leaf in pending])

        def assign(session: Session, batch_id: int) -> None:
            """Record which anchored batch holds these leaves, with each one's proof."""
            assigned = session.connection().execute(
                update(self.table)
                .where(self.key_column == bindparam("row_key"), self.batch_column.is_(None))
                .values(batch_id=batch_id, leaf_index=bindparam("row_index"), proof=bindparam("row_proof")),
                [
                    {
                        "row_key": key,
                        "row_index": index,
                        "row_proof": json.dumps(["0x" + node.hex() for node in tree.proof(index)]),
                    }
                    for index, (key, _) in enumerate(pending)
                ],
            )
            if assigned.rowcount != len(pending):
                raise Conflict(self.taken_meanwhile)

        return Taken(tree.root, len(pending), assign)


@dataclass(frozen=True, slots=True)
class AnchoredBatch:
    local_id: int
    root: bytes
    leaf_count: int


class Anchorer:
    """Moves one source's waiting rows into anchored batches."""

    def __init__(
        self,
        db: Database,
        anchor: Callable[[], RecordAnchor],
        source: AnchorSource,
        *,
        batch_size: int = MAX_BATCH,
        max_wait: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.source = source
        self._anchor = anchor
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.max_wait = max_wait
        self._clock = clock

    def pending(self) -> int:
        """How many commitments wait for their anchor."""
        with self.db.reading() as connection:
            return self.source.waiting(connection)[0]

    def backlog(self) -> tuple[int, float]:
        """How many rows wait for their anchor, and how many seconds the oldest has waited (0, 0.0: none)."""
        with self.db.reading() as connection:
            waiting, oldest = self.source.waiting(connection)
        if not waiting or oldest is None:
            return 0, 0.0
        age = self._clock() - oldest.replace(tzinfo=oldest.tzinfo or UTC)
        return waiting, max(0.0, age.total_seconds())

    def lags(self, since: datetime, until: datetime) -> tuple[list[float], list[datetime]]:
        """Of the rows written from `since` until before `until`: the seconds each anchored one waited for its
        anchor, and when each one not anchored yet was written (for a compliance report's anchoring lag)."""
        with self.db.reading() as connection:
            rows = self.source.written(connection, since.astimezone(UTC), until.astimezone(UTC))
        lags: list[float] = []
        waiting: list[datetime] = []
        for written, anchored in rows:
            written = written.replace(tzinfo=written.tzinfo or UTC)
            if anchored is None:
                waiting.append(written)
            else:
                lags.append(max(0.0, (anchored.replace(tzinfo=anchored.tzinfo or UTC) - written).total_seconds()))
        return lags, waiting

    def due(self) -> bool:
        """True when `batch_size` rows wait, or the oldest has waited `max_wait` seconds."""
        waiting, age = self.backlog()
        return waiting > 0 and (waiting >= self.batch_size or age >= self.max_wait)

    def maybe_anchor(self) -> list[AnchoredBatch]:
        """Anchor if due; what it anchored."""
        return self.anchor_pending() if self.due() else []

    def anchor_pending(self) -> list[AnchoredBatch]:
        """Settle batches left by a crash, then anchor everything waiting."""
        anchored = self.reconcile()
        while (prepared := self._prepare()) is not None:
            anchored.append(self._send(prepared))
        return anchored

    def reconcile(self) -> list[AnchoredBatch]:
        """Settle every prepared batch of this kind from the chain: anchored there already, or send it."""
        with self.db.session() as session:
            prepared = session.scalars(
                select(AnchorBatch).where(AnchorBatch.status == "prepared", AnchorBatch.kind == int(self.source.kind))
            ).all()
        return [self._send(batch) for batch in prepared]

    def _prepare(self) -> AnchorBatch | None:
        facade = self._anchor()
        with self.db.reading() as connection:
            taken = self.source.take(connection, self.batch_size)
        if taken is None:
            return None
        with self.db.session() as session:
            batch = AnchorBatch(
                root=taken.root,
                leaf_count=taken.leaf_count,
                kind=int(self.source.kind),
                chain_id=facade.chain.chain_id,
                status="prepared",
                created_at=self._clock(),
            )
            session.add(batch)
            session.flush()
            taken.assign(session, batch.id)
        crash_point("anchor-prepared")
        return batch

    def _send(self, batch: AnchorBatch) -> AnchoredBatch:
        facade = self._anchor()
        block = None  # not known for a batch the chain already holds (sent before a crash, or by another process)
        if not facade.is_anchored(batch.root):
            try:
                block = facade.anchor(batch.root, batch.leaf_count, AnchorKind(batch.kind)).block
            except TransactionReverted:
                # Another process sent it first, or not: the chain says which.
                if not facade.is_anchored(batch.root):
                    raise
            crash_point("anchor-sent")
        with self.db.session() as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id == batch.id)
                .values(status="anchored", anchored_at=self._clock(), block=block)
            )
        return AnchoredBatch(batch.id, batch.root, batch.leaf_count)
