"""Check a stored record version end to end, trusting the chain rather than the node's DB.

Steps, each with a verdict: the blob still has its content id; it decrypts; the salted
commitment recomputed from the row matches the stored one; the record was anchored; the
node's root for its batch is anchored on the chain; its Merkle proof leads to that root,
checked here and by the contract.

An erased record (`_erasure`) has no blob, key or salt left to check: its first step says
"erased" (when, at which request), and its commitment's anchor and proof are checked as any
other's, since they stay on chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from careledger.chain import RecordAnchor
from careledger.crypto import PrivateKey, verify_proof
from careledger.errors import CareLedgerError
from careledger.records._commitment import commitment
from careledger.records._erased import erasure_mark
from careledger.records._service import RecordService
from careledger.store import AnchorBatch, RecordVersion


@dataclass(frozen=True, slots=True)
class Check:
    step: str
    ok: bool
    detail: str


def verify_record(
    records: RecordService, anchor: RecordAnchor, key: PrivateKey, record_id: str, version: int | None = None
) -> list[Check]:
    """Every check for one version; stops at the first failure that makes the rest moot."""
    stored = records.get(record_id, version)
    with records.db.session() as session:
        row = session.get_one(RecordVersion, (stored.record_id, stored.version))
        batch = session.get(AnchorBatch, row.batch_id) if row.batch_id is not None else None
        mark = erasure_mark(session.connection(), stored.record_id)
    if mark is not None:
        when = f"{mark.erased_at:%Y-%m-%d %H:%M:%S} UTC"
        detail = f"erased {when} at request {mark.request}: its data keys, content and search tokens are destroyed"
        return [Check("erased", True, detail), *_anchor_checks(anchor, row, batch)]
    checks: list[Check] = []
    if stored.cid is not None:
        try:
            records.blobs.get(stored.cid)
            checks.append(Check("content id", True, stored.cid))
        except CareLedgerError as exc:
            return [*checks, Check("content id", False, str(exc))]
        try:
            records.decrypt(stored, key)
            checks.append(Check("decrypt", True, f"opened with key {key.public_key.fingerprint.hex()}"))
        except CareLedgerError as exc:
            return [*checks, Check("decrypt", False, str(exc))]
    expected = commitment(
        salt=row.salt,
        cid=row.cid or "",
        patient=row.patient_address,
        resource_type=row.resource_type,
        version=row.version,
    )
    if expected != row.commitment:
        return [*checks, Check("commitment", False, "the stored commitment does not match the record's data")]
    checks.append(Check("commitment", True, "0x" + expected.hex()))
    return [*checks, *_anchor_checks(anchor, row, batch)]


def _anchor_checks(anchor: RecordAnchor, row: RecordVersion, batch: AnchorBatch | None) -> list[Check]:
    """Whether the version's commitment is in an anchored batch, its root on chain, its proof leading there."""
    if batch is None or batch.status != "anchored":
        return [Check("anchored", False, "not anchored yet: run `careledger record anchor`")]
    checks = [Check("anchored", True, f"in a batch of {batch.leaf_count} on chain {anchor.chain.chain_id}")]
    if not anchor.is_anchored(batch.root):
        return [*checks, Check("root", False, f"the node's root 0x{batch.root.hex()} is not anchored on the chain")]
    chain_root = anchor.batch(batch.root).root
    proof = [bytes.fromhex(node) for node in json.loads(row.proof or "[]")]
    proved = verify_proof(proof, chain_root, row.commitment) and anchor.verify(chain_root, proof, row.commitment)
    detail = f"{len(proof)} siblings to root 0x{chain_root.hex()}, anchored on chain"
    checks.append(Check("proof", proved, detail if proved else "the proof does not lead to an anchored root"))
    return checks
