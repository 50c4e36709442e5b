"""The salted commitment to one record version: the only thing about a record on chain."""

from __future__ import annotations

from careledger.crypto import canonical_json, keccak


def commitment(*, salt: bytes, cid: str, patient: str, resource_type: str, version: int) -> bytes:
    """keccak256 of the canonical JSON of (salt, CID, patient, type, version).

    The random 32-byte salt makes the commitment reveal nothing, even of a record whose
    content could be guessed; the CID binds the exact ciphertext, whose AAD binds the
    record id. A deleted version commits to an empty CID.
    """
    return keccak(
        canonical_json({"cid": cid, "patient": patient, "salt": salt.hex(), "type": resource_type, "version": version})
    )
