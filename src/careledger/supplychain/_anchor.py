"""Captured EPCIS events as an anchoring source: their digests folded into Merkle roots on RecordAnchor.

An event waits while its row has no batch. A batch is a Merkle tree of up to 1,024 digests (sorted-pair keccak256,
as RecordAnchor verifies), in the order the events were recorded; each row keeps its leaf index and proof, so a
trace shows any one event's path to a root on chain. The batches are of RecordAnchor's `RECORDS` kind: what the
contract knows of one is a root of 32-byte commitments, and a digest of an event is one (RecordAnchor takes no other
kind but the audit heads', whose roots are a log's head, not a tree).
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from careledger.anchoring import Taken, TimedRows
from careledger.chain import AnchorKind
from careledger.crypto import MerkleTree
from careledger.errors import Conflict
from careledger.store import SUPPLY_EVENTS

_COLUMNS = SUPPLY_EVENTS.c


class EventDigests(TimedRows):
    """The supply events waiting for an anchor."""

    kind = AnchorKind.RECORDS
    batch_column = _COLUMNS.batch_id
    time_column = _COLUMNS.record_time

    def take(self, connection: Connection, limit: int) -> Taken | None:
        """The digests to anchor next (at most `limit`), oldest first."""
        pending = connection.execute(
            select(_COLUMNS.seq, _COLUMNS.digest).where(_COLUMNS.batch_id.is_(None)).order_by(_COLUMNS.seq).limit(limit)
        ).all()
        if not pending:
            return None
        tree = MerkleTree([bytes(digest) for _, digest in pending])

        def assign(session: Session, batch_id: int) -> None:
            """Record which anchored batch holds these events, with each one's proof."""
            assigned = session.connection().execute(
                update(SUPPLY_EVENTS)
                .where(_COLUMNS.seq == bindparam("leaf_seq"), _COLUMNS.batch_id.is_(None))
                .values(batch_id=batch_id, leaf_index=bindparam("leaf_index"), proof=bindparam("leaf_proof")),
                [
                    {
                        "leaf_seq": seq,
                        "leaf_index": index,
                        "leaf_proof": json.dumps(["0x" + node.hex() for node in tree.proof(index)]),
                    }
                    for index, (seq, _) in enumerate(pending)
                ],
            )
            if assigned.rowcount != len(pending):
                raise Conflict("another anchorer took some of these supply events first; this batch is dropped")

        return Taken(tree.root, len(pending), assign)
