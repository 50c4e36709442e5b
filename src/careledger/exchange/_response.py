"""What a custodian sends back: ciphertexts, data keys sealed to the requester, and proofs.

Nothing in a response is trusted by the requester: each record comes with what it needs to
be checked against the chain (content id, salt, commitment, Merkle proof, anchored root).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from careledger.errors import IntegrityError


@dataclass(frozen=True, slots=True)
class SharedRecord:
    """One record version as shared: ciphertext plus everything that proves it."""

    resource_type: str
    record_id: str
    version: int
    category: str
    cid: str
    ciphertext: bytes
    sealed_key: bytes  # the data key sealed to the requester's registered key (SealedKey bytes)
    salt: bytes
    commitment: bytes
    proof: tuple[bytes, ...]
    root: bytes

    def to_json(self) -> dict[str, Any]:
        """One shared record as JSON: ciphertext, sealed key and proof."""
        return {
            "resourceType": self.resource_type,
            "id": self.record_id,
            "version": self.version,
            "category": self.category,
            "cid": self.cid,
            "ciphertext": base64.b64encode(self.ciphertext).decode(),
            "sealed_key": self.sealed_key.hex(),
            "salt": self.salt.hex(),
            "commitment": self.commitment.hex(),
            "proof": [node.hex() for node in self.proof],
            "root": self.root.hex(),
        }

    @classmethod
    def from_json(cls, data: Any) -> SharedRecord:
        """One shared record from its JSON; `ValidationError` if malformed."""
        try:
            return cls(
                resource_type=str(data["resourceType"]),
                record_id=str(data["id"]),
                version=int(data["version"]),
                category=str(data["category"]),
                cid=str(data["cid"]),
                ciphertext=base64.b64decode(data["ciphertext"], validate=True),
                sealed_key=bytes.fromhex(data["sealed_key"]),
                salt=bytes.fromhex(data["salt"]),
                commitment=bytes.fromhex(data["commitment"]),
                proof=tuple(bytes.fromhex(node) for node in data["proof"]),
                root=bytes.fromhex(data["root"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"a malformed record in the custodian's response: {exc}") from None


@dataclass(frozen=True, slots=True)
class FetchResponse:
    custodian: str
    patient: str
    records: tuple[SharedRecord, ...]
    withheld: tuple[str, ...]  # categories asked for that no consent covers

    def to_json(self) -> dict[str, Any]:
        """The custodian's answer as JSON."""
        return {
            "custodian": self.custodian,
            "patient": self.patient,
            "records": [record.to_json() for record in self.records],
            "withheld": list(self.withheld),
        }

    @classmethod
    def from_json(cls, data: Any) -> FetchResponse:
        """The custodian's answer from its JSON; `ValidationError` if malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            raise IntegrityError("the custodian's response is not a fetch response")
        return cls(
            custodian=str(data.get("custodian")),
            patient=str(data.get("patient")),
            records=tuple(SharedRecord.from_json(item) for item in data["records"]),
            withheld=tuple(str(c) for c in data.get("withheld", [])),
        )
