"""The steps from a resource's bytes to the root its proof names, recomputed with no node and no chain.

```
canonical JSON (RFC 8785) of the resource ─AES-256-GCM(dataKey, nonce, AAD)─► nonce ‖ ciphertext ─► CID
keccak256(canonical JSON of {cid, patient, salt, type, version}) ─► commitment
commitment ─sorted-pair keccak256 with each sibling in turn─► root
```

AES-GCM is deterministic for a given key and nonce, so the ciphertext the node stored, and so its
content id, follow from the plaintext; one changed byte changes the CID and the commitment. The
record's id, type and version are read from the resource itself (`id`, `resourceType`, `meta.versionId`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from careledger.crypto import RecordContext, canonical_json, content_id, process_proof
from careledger.errors import ValidationError
from careledger.proofs._format import RecordProof
from careledger.records import commitment


@dataclass(frozen=True, slots=True)
class Named:
    """Which record version a resource says it is."""

    resource_type: str
    record_id: str
    version: int

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.record_id}/_history/{self.version}"


def named(resource: Any) -> Named:
    """The type, id and version a resource states; `ValidationError` if it states none."""
    if not isinstance(resource, dict):
        raise ValidationError("a resource is a JSON object")
    kind, record_id, meta = resource.get("resourceType"), resource.get("id"), resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or not isinstance(record_id, str) or not kind or not record_id:
        raise ValidationError("a resource with a proof has a resourceType and an id")
    if not isinstance(version, str) or not version.isascii() or not version.isdigit() or len(version) > 9:
        raise ValidationError(f"{kind}/{record_id} has no meta.versionId a proof can name")
    return Named(kind, record_id, int(version))


def ciphertext_id(resource: dict[str, Any], record: Named, proof: RecordProof) -> str:
    """The content id of the ciphertext the node stored for `resource`, re-encrypted with the proof's data key
    and nonce under the record's context (id, version, patient, category)."""
    if proof.data_key is None or proof.nonce is None or proof.salt is None:
        raise ValidationError(f"the proof of {record} carries no data key or salt: its content cannot be checked")
    aad = RecordContext(record.record_id, record.version, proof.patient, proof.category).aad()
    ciphertext = proof.nonce + AESGCM(proof.data_key).encrypt(proof.nonce, canonical_json(resource), aad)
    return content_id(ciphertext)


def commitment_of(record: Named, proof: RecordProof, cid: str) -> bytes:
    """The salted commitment of the version, from its content id and the proof's salt and patient."""
    if proof.salt is None:
        raise ValidationError(f"the proof of {record} carries no salt: its commitment cannot be recomputed")
    return commitment(
        salt=proof.salt, cid=cid, patient=proof.patient, resource_type=record.resource_type, version=record.version
    )


def root_of(proof: RecordProof, leaf: bytes) -> bytes:
    """The root the proof's path leads to from `leaf`."""
    return process_proof(proof.siblings, leaf)
