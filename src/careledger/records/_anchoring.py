"""Anchor queued record commitments on chain in Merkle batches, crash-safely.

A commitment is pending while its version row has no batch. Anchoring a batch is three
steps, each durable before the next:

1. prepare: one DB transaction fixes the batch (root, leaves) and gives every leaf its
   batch, index and proof;
2. send: `RecordAnchor.anchor(root, …)`;
3. settle: after the receipt, the batch is marked anchored.

A crash after 1 or 2 leaves a prepared batch, settled on the next run from the chain
(`is_anchored(root)`): anchored if the transaction made it, sent again if not. The contract
refuses a root twice, so every record is anchored exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select, update

from careledger._failpoints import crash_point
from careledger.chain import AnchorKind, RecordAnchor
from careledger.crypto import MerkleTree
from careledger.errors import TransactionReverted
from careledger.store import RECORD_VERSIONS, AnchorBatch, Database, RecordVersion

# The contract's proof bound is 255 levels; 1,024 leaves need 10.
MAX_BATCH = 1024


@dataclass(frozen=True, slots=True)
class AnchoredBatch:
    local_id: int
    root: bytes
    leaf_count: int


class Anchorer:
    """Moves pending commitments into anchored batches."""

    def __init__(
        self,
        db: Database,
        anchor: Callable[[], RecordAnchor],
        *,
        batch_size: int = MAX_BATCH,
        max_wait: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self._anchor = anchor
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.max_wait = max_wait
        self._clock = clock

    def pending(self) -> int:
        return self._waiting()[0]

    def due(self) -> bool:
        """True when `batch_size` commitments wait, or the oldest has waited `max_wait` seconds."""
        waiting, oldest = self._waiting()
        if not waiting or oldest is None:
            return False
        age = self._clock() - oldest.replace(tzinfo=oldest.tzinfo or UTC)
        return waiting >= self.batch_size or age >= timedelta(seconds=self.max_wait)

    def _waiting(self) -> tuple[int, datetime | None]:
        """How many commitments wait, and since when, in one query."""
        with self.db.session() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(RecordVersion.last_updated)).where(RecordVersion.batch_id.is_(None))
            ).one()
        return int(count or 0), oldest

    def maybe_anchor(self) -> list[AnchoredBatch]:
        """Anchor if due; what it anchored."""
        return self.anchor_pending() if self.due() else []

    def anchor_pending(self) -> list[AnchoredBatch]:
        """Settle batches left by a crash, then anchor everything pending."""
        anchored = self.reconcile()
        while (prepared := self._prepare()) is not None:
            anchored.append(self._send(prepared))
        return anchored

    def reconcile(self) -> list[AnchoredBatch]:
        """Settle every prepared batch from the chain: anchored there already, or send it."""
        with self.db.session() as session:
            prepared = session.scalars(select(AnchorBatch).where(AnchorBatch.status == "prepared")).all()
        return [self._send(batch) for batch in prepared]

    def _prepare(self) -> AnchorBatch | None:
        facade = self._anchor()
        with self.db.session() as session:
            pending = session.execute(
                select(RECORD_VERSIONS.c.record_id, RECORD_VERSIONS.c.version, RECORD_VERSIONS.c.commitment)
                .where(RECORD_VERSIONS.c.batch_id.is_(None))
                .order_by(RECORD_VERSIONS.c.last_updated, RECORD_VERSIONS.c.record_id, RECORD_VERSIONS.c.version)
                .limit(self.batch_size)
            ).all()
            if not pending:
                return None
            tree = MerkleTree([commitment for _, _, commitment in pending])
            batch = AnchorBatch(
                root=tree.root,
                leaf_count=len(pending),
                kind=int(AnchorKind.RECORDS),
                chain_id=facade.chain.chain_id,
                status="prepared",
                created_at=self._clock(),
            )
            session.add(batch)
            session.flush()
            session.execute(
                update(RECORD_VERSIONS)
                .where(
                    RECORD_VERSIONS.c.record_id == bindparam("leaf_record"),
                    RECORD_VERSIONS.c.version == bindparam("leaf_version"),
                )
                .values(batch_id=batch.id, leaf_index=bindparam("leaf_index"), proof=bindparam("leaf_proof")),
                [
                    {
                        "leaf_record": record_id,
                        "leaf_version": version,
                        "leaf_index": index,
                        "leaf_proof": json.dumps([node.hex() for node in tree.proof(index)]),
                    }
                    for index, (record_id, version, _) in enumerate(pending)
                ],
            )
        crash_point("anchor-prepared")
        return batch

    def _send(self, batch: AnchorBatch) -> AnchoredBatch:
        facade = self._anchor()
        if not facade.is_anchored(batch.root):
            try:
                facade.anchor(batch.root, batch.leaf_count, AnchorKind(batch.kind))
            except TransactionReverted:
                # Another process sent it first, or not: the chain says which.
                if not facade.is_anchored(batch.root):
                    raise
            crash_point("anchor-sent")
        with self.db.session() as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id == batch.id)
                .values(status="anchored", anchored_at=self._clock())
            )
        return AnchoredBatch(batch.id, batch.root, batch.leaf_count)
