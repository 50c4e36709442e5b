"""The node's side of proofs: each version's proof, handed out through the caller's door, and a verdict.

Faces ask with the caller's `Accessor`: the door judges again (audited) which of the versions she may
have the proofs of, and a proof of one she may not read is told as an unknown id is. A proof carries the
version's data key (what re-encrypts the plaintext she holds to the ciphertext the commitment binds),
so it discloses what the record does and is never handed out past the door.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from careledger.access import Accessor, RecordAccess
from careledger.chain import RecordAnchor
from careledger.crypto import PrivateKey
from careledger.errors import CareLedgerError, ChainUnavailable
from careledger.proofs._format import AnchorPoint, RecordProof
from careledger.proofs._recompute import named
from careledger.proofs._rpc import AnchorReader
from careledger.records import Check, RecordService, Resource, SealedProof, StoredRecord, sealed_proofs, verify_record

ANCHORED = "anchored"
PENDING = "pending"
TAMPERED = "tampered"
ERASED = "erased"
VERDICTS = (ANCHORED, PENDING, TAMPERED, ERASED)


@dataclass(frozen=True, slots=True)
class Verified:
    """The node's verdict on one version (which: `stored`), why, its resource (None if deleted or erased) and its
    proof."""

    stored: StoredRecord
    verdict: str
    detail: str
    resource: Resource | None
    proof: RecordProof


def verdict_of(checks: Sequence[Check]) -> tuple[str, str]:
    """`record verify`'s checks as one verdict and its reason: anchored when every check passed, pending when
    only the anchor is missing, erased when the content was destroyed on request, tampered otherwise."""
    erased = next((check for check in checks if check.step == ERASED), None)
    if erased is not None:
        return ERASED, erased.detail
    failed = next((check for check in checks if not check.ok), None)
    if failed is None:
        return ANCHORED, checks[-1].detail if checks else ""
    if failed.step == "anchored":
        return PENDING, failed.detail
    return TAMPERED, f"{failed.step}: {failed.detail}"


class Proofs:
    """Proofs of the versions a caller may read, and the node's verdict on one."""

    def __init__(
        self,
        access: RecordAccess,
        records: RecordService,
        anchor: Callable[[], RecordAnchor],
        node_key: Callable[[], PrivateKey],
    ) -> None:
        """`node_key` opens data keys (asked only when a proof is built: the node may run locked)."""
        self._access = access
        self._records = records
        self._anchor = anchor
        self._node_key = node_key

    def of(
        self, accessor: Accessor, resources: Sequence[Resource], key: PrivateKey | None = None
    ) -> dict[tuple[str, int], RecordProof]:
        """The proofs of the versions `resources` are (by `id` and `meta.versionId`), by (id, version), of those
        the caller may read (judged and audited as `proof`); data keys opened with `key` (the patient's, for her
        export), else the node's."""
        versions = []
        for resource in resources:
            record = named(resource)
            versions.append(self._records.get(record.record_id, record.version))
        shown = self._access.for_caller(accessor).visible(versions, "proof")
        built = self._built(shown, key)
        return {(stored.record_id, stored.version): proof for stored, proof in zip(shown, built, strict=True)}

    def verify(self, accessor: Accessor, record_id: str, version: int | None = None) -> Verified:
        """The node's verdict on a version the caller may read (audited as her read of it; one she may not is
        an unknown id), with its proof and its resource, checked against the chain as `record verify` does."""
        stored = self._access.for_caller(accessor).stored(record_id, version)
        node_key = self._node_key()
        verdict, detail = verdict_of(
            verify_record(self._records, self._anchor(), node_key, stored.record_id, stored.version)
        )
        resource = None
        if verdict != ERASED and not stored.deleted:
            try:
                resource = self._records.decrypt(stored, node_key)
            except CareLedgerError:
                resource = None  # tampered content: the verdict says so
        return Verified(stored, verdict, detail, resource, self._built([stored], node_key)[0])

    def _built(self, versions: Sequence[StoredRecord], key: PrivateKey | None) -> list[RecordProof]:
        """Each version's portable proof: its sealed material and, once anchored, where and when on chain."""
        sealed = sealed_proofs(self._records, versions, key or self._node_key())
        if not any(one.anchored for one in sealed):
            return [_proof(one, None) for one in sealed]
        anchor = self._anchor()
        reader = AnchorReader(anchor.chain.w3, anchor.address)
        points: dict[bytes, AnchorPoint] = {}
        built = []
        for one in sealed:
            point = None
            if one.root is not None:
                if one.root not in points:
                    points[one.root] = _point(reader, anchor, one.root, one.block)
                point = points[one.root]
            built.append(_proof(one, point))
        return built


def _point(reader: AnchorReader, anchor: RecordAnchor, root: bytes, block: int | None) -> AnchorPoint:
    """Where `root` is anchored, as the chain tells: its time, and the transaction of its event in `block` (the
    node's record of its batch; None: the proof names no block, and the verifier looks for the event itself).
    Never a search of the whole chain's logs: that would be one per `$verify` or export."""
    batch = reader.batch(root)
    try:
        found = reader.anchoring(root, block, widen=False) if batch is not None and block is not None else None
    except ChainUnavailable:  # the endpoint no longer serves that block's logs: the verifier looks for itself
        found = None
    return AnchorPoint(
        root=root,
        contract=anchor.address,
        chain_id=anchor.chain.chain_id,
        block=found[0] if found else None,
        transaction=found[1] if found else None,
        anchored_at=datetime.fromtimestamp(batch.timestamp, UTC) if batch is not None else None,
    )


def _proof(sealed: SealedProof, point: AnchorPoint | None) -> RecordProof:
    stored = sealed.stored
    return RecordProof(
        patient=stored.patient_address,
        category=stored.category.value,
        cid=stored.cid or "",
        salt=sealed.salt,
        commitment=sealed.commitment,
        data_key=sealed.data_key,
        nonce=sealed.nonce,
        leaf_index=sealed.leaf_index,
        siblings=sealed.siblings,
        anchor=point,
    )
