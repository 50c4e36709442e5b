"""Captured EPCIS events as an anchoring source: their digests folded into Merkle roots on RecordAnchor.

An event waits while its row has no batch. A batch is a Merkle tree of up to 1,024 digests (sorted-pair keccak256,
as RecordAnchor verifies), in the order the events were recorded; each row keeps its leaf index and proof, so a
trace shows any one event's path to a root on chain. The batches are of RecordAnchor's `RECORDS` kind: what the
contract knows of one is a root of 32-byte commitments, and a digest of an event is one (RecordAnchor takes no other
kind but the audit heads', whose roots are a log's head, not a tree).
"""

from __future__ import annotations

from careledger.anchoring import LeafRows
from careledger.store import SUPPLY_EVENTS

_COLUMNS = SUPPLY_EVENTS.c


class EventDigests(LeafRows):
    """The supply events waiting for an anchor, in the order they were recorded."""

    table = SUPPLY_EVENTS
    key_column = _COLUMNS.seq
    leaf_column = _COLUMNS.digest
    order = (_COLUMNS.seq,)
    batch_column = _COLUMNS.batch_id
    time_column = _COLUMNS.record_time
    taken_meanwhile = "another anchorer took some of these supply events first; this batch is dropped"
