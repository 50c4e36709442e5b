"""What the node keeps of each version's proof, gathered for one that leaves the node (`careledger.proofs`).

A version's proof is what links its plaintext to a root on chain without the node:

```
canonical resource ─AES-256-GCM(data key, nonce, AAD = record context)─► ciphertext ─► CID
(salt, CID, patient, type, version) ─keccak─► commitment ─Merkle path─► root ─► RecordAnchor
```

The commitment binds the ciphertext's content id, so whoever holds the plaintext needs the
version's data key and nonce to recompute it: those come opened here, with the key of whoever
may open them (the patient's for her export, the node's for a caller its door let read).
Nothing here decides who may see a proof: the caller's door has decided before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, tuple_

from careledger.crypto import PrivateKey, open_data_key, sealed_to
from careledger.errors import CareLedgerError
from careledger.records._service import RecordService
from careledger.records._stored import COLUMNS, StoredRecord
from careledger.store import AnchorBatch

_CHUNK = 500  # versions per query: well under any database's limit on bound parameters
_WIPED = bytes(32)  # an erased version's salt (`_erasure`): a random salt is never all zero
_NONCE_LEN = 12  # the envelope's ciphertext is nonce ‖ AES-256-GCM output (`crypto._envelope`)


@dataclass(frozen=True, slots=True)
class SealedProof:
    """One version's proof as the node keeps it; `data_key` and `nonce` None when they cannot be opened (a
    deleted version), those and `salt` None for an erased one, the batch fields None while it waits for its
    anchor (`block` also for a batch whose block the node never learnt: anchored before it kept blocks)."""

    stored: StoredRecord
    salt: bytes | None
    commitment: bytes
    data_key: bytes | None
    nonce: bytes | None
    leaf_index: int | None
    siblings: tuple[bytes, ...]
    root: bytes | None
    block: int | None
    anchored: bool


def sealed_proofs(records: RecordService, versions: Sequence[StoredRecord], key: PrivateKey) -> list[SealedProof]:
    """The proof of each of `versions`, in order: salt, commitment, Merkle path and batch from the node's rows,
    the data key opened with `key` and the nonce read from the ciphertext (checked against its content id)."""
    if not versions:
        return []
    wanted = [(stored.record_id, stored.version) for stored in versions]
    query = select(
        COLUMNS.record_id,
        COLUMNS.version,
        COLUMNS.salt,
        COLUMNS.commitment,
        COLUMNS.leaf_index,
        COLUMNS.proof,
        AnchorBatch.root,
        AnchorBatch.status,
        AnchorBatch.block,
    ).outerjoin(AnchorBatch, AnchorBatch.id == COLUMNS.batch_id)
    rows = {}
    with records.db.reading() as connection:
        for start in range(0, len(wanted), _CHUNK):
            chunk = query.where(tuple_(COLUMNS.record_id, COLUMNS.version).in_(wanted[start : start + _CHUNK]))
            rows.update({(row.record_id, row.version): row for row in connection.execute(chunk)})
    found = []
    for stored in versions:
        row = rows[(stored.record_id, stored.version)]
        anchored = row.status == "anchored"
        found.append(
            SealedProof(
                stored=stored,
                salt=bytes(row.salt) if bytes(row.salt) != _WIPED else None,
                commitment=bytes(row.commitment),
                data_key=_data_key(stored, key),
                nonce=_nonce(records, stored),
                leaf_index=row.leaf_index if anchored else None,
                siblings=tuple(bytes.fromhex(node) for node in json.loads(row.proof or "[]")) if anchored else (),
                root=bytes(row.root) if anchored else None,
                block=row.block if anchored else None,
                anchored=anchored,
            )
        )
    return found


def _data_key(stored: StoredRecord, key: PrivateKey) -> bytes | None:
    """The version's data key, opened with `key`; None if no copy is sealed to it any more (or none ever was)."""
    try:
        return open_data_key(sealed_to(stored.data_keys(), key.public_key), stored.context, key)
    except CareLedgerError:
        return None


def _nonce(records: RecordService, stored: StoredRecord) -> bytes | None:
    """The nonce the version's ciphertext starts with; None if it has no blob (deleted, or erased)."""
    if stored.cid is None:
        return None
    try:
        return records.blobs.get(stored.cid)[:_NONCE_LEN]
    except CareLedgerError:
        return None
