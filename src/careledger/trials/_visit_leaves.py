"""A site's visit leaves as an anchoring source: the leaves its escrow payments prove, folded into Merkle roots on
RecordAnchor by the site node itself.

A leaf waits while its `trial_visits` row has no batch; a correction draws a new leaf, which waits again. A batch is
a Merkle tree of up to 1,024 leaves (sorted-pair keccak256, as RecordAnchor verifies) in the order they were
written; each row keeps its leaf index and proof, which `Trials.pay_visit` is given with the root. The batches are
of RecordAnchor's `RECORDS` kind, and the contract pays only for a leaf of a batch the paying site anchored itself,
so these are not the records' batches: a visit leaf is keccak256(salt ‖ commitment), never a record's commitment,
and anchoring it apart puts nothing on chain that a copy of `record_versions` could match.
"""

from __future__ import annotations

import json
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from careledger.anchoring import Taken, TimedRows
from careledger.chain import AnchorKind
from careledger.crypto import MerkleTree
from careledger.errors import Conflict
from careledger.store import TrialVisit

_VISITS = cast("Table", TrialVisit.__table__)
_COLUMNS = _VISITS.c


class TrialVisitLeaves(TimedRows):
    """The visit leaves waiting for an anchor."""

    kind = AnchorKind.RECORDS
    batch_column = _COLUMNS.batch_id
    time_column = _COLUMNS.entered

    def take(self, connection: Connection, limit: int) -> Taken | None:
        """The leaves to anchor next (at most `limit`), oldest first."""
        pending = [
            bytes(leaf)
            for (leaf,) in connection.execute(
                select(_COLUMNS.leaf)
                .where(_COLUMNS.batch_id.is_(None))
                .order_by(_COLUMNS.entered, _COLUMNS.leaf)
                .limit(limit)
            )
        ]
        if not pending:
            return None
        tree = MerkleTree(pending)

        def assign(session: Session, batch_id: int) -> None:
            """Record which batch holds these leaves, with each one's proof; a leaf a correction replaced meanwhile
            is not found, and the batch is dropped (its rows wait for the next)."""
            assigned = session.connection().execute(
                update(_VISITS)
                .where(_COLUMNS.leaf == bindparam("visit_leaf"), _COLUMNS.batch_id.is_(None))
                .values(batch_id=batch_id, leaf_index=bindparam("index"), proof=bindparam("siblings")),
                [
                    {
                        "visit_leaf": leaf,
                        "index": index,
                        "siblings": json.dumps(["0x" + node.hex() for node in tree.proof(index)]),
                    }
                    for index, leaf in enumerate(pending)
                ],
            )
            if assigned.rowcount != len(pending):
                raise Conflict("another anchorer took some of these visit leaves first, or a correction replaced one")

        return Taken(tree.root, len(pending), assign)
