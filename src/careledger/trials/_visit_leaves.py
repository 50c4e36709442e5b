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

from typing import cast

from sqlalchemy import Table

from careledger.anchoring import LeafRows
from careledger.store import TrialVisit

_VISITS = cast("Table", TrialVisit.__table__)
_COLUMNS = _VISITS.c


class TrialVisitLeaves(LeafRows):
    """The visit leaves waiting for an anchor, oldest first; a leaf a correction replaced meanwhile is not found, and
    the batch is dropped (its rows wait for the next)."""

    table = _VISITS
    key_column = _COLUMNS.leaf
    leaf_column = _COLUMNS.leaf
    order = (_COLUMNS.entered, _COLUMNS.leaf)
    batch_column = _COLUMNS.batch_id
    time_column = _COLUMNS.entered
    taken_meanwhile = "another anchorer took some of these visit leaves first, or a correction replaced one"
