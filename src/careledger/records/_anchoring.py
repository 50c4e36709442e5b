"""Record commitments as an anchoring source: pending versions folded into a Merkle root.

A commitment is pending while its version row has no batch. A batch is a Merkle tree of
up to 1,024 commitments (sorted-pair keccak256, as RecordAnchor verifies); each row keeps
its leaf index and proof, so `record verify` can check it against the chain alone.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from careledger.anchoring import Taken, TimedRows
from careledger.chain import AnchorKind
from careledger.crypto import MerkleTree
from careledger.errors import Conflict
from careledger.store import RECORD_VERSIONS

_COLUMNS = RECORD_VERSIONS.c


class RecordCommitments(TimedRows):
    """The record versions waiting for an anchor."""

    kind = AnchorKind.RECORDS
    batch_column = _COLUMNS.batch_id
    time_column = _COLUMNS.last_updated

    def take(self, connection: Connection, limit: int) -> Taken | None:
        """The commitments to anchor next (at most `limit`)."""
        pending = connection.execute(
            select(_COLUMNS.record_id, _COLUMNS.version, _COLUMNS.commitment)
            .where(_COLUMNS.batch_id.is_(None))
            .order_by(_COLUMNS.last_updated, _COLUMNS.record_id, _COLUMNS.version)
            .limit(limit)
        ).all()
        if not pending:
            return None
        tree = MerkleTree([commitment for _, _, commitment in pending])

        def assign(session: Session, batch_id: int) -> None:
            """Record which anchored batch holds these versions, with each one's proof."""
            assigned = session.connection().execute(
                update(RECORD_VERSIONS)
                .where(
                    _COLUMNS.record_id == bindparam("leaf_record"),
                    _COLUMNS.version == bindparam("leaf_version"),
                    _COLUMNS.batch_id.is_(None),
                )
                .values(batch_id=batch_id, leaf_index=bindparam("leaf_index"), proof=bindparam("leaf_proof")),
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
            if assigned.rowcount != len(pending):
                raise Conflict("another anchorer took some of these commitments first; this batch is dropped")

        return Taken(tree.root, len(pending), assign)
