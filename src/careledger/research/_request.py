"""The signed request a study's sponsor sends each custodian node: a release, or one aggregate query (EIP-712).

It names the study, the node asked, and the keccak256 of what is asked (the canonical
JSON of the query, or of `{"kind": "release"}`), so a node answers exactly what the
sponsor signed; a random nonce and a short expiry make it single-use. Its domain is the
exchange's (the network's IdentityRegistry), so it is valid on one network only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from careledger.crypto import (
    canonical_json,
    keccak,
    parse_signature,
    recover_typed_data_signer,
    sign_typed_data,
    typed_data,
)
from careledger.errors import ValidationError
from careledger.exchange import DOMAIN, LIFETIME

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

RELEASE = {"kind": "release"}
_STUDY_TYPE = [
    {"name": "studyId", "type": "uint256"},
    {"name": "custodian", "type": "address"},
    {"name": "ask", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint64"},
]


@dataclass(frozen=True, slots=True)
class StudyRequest:
    """A sponsor's signed ask of one node: `ask` is the JSON of a query, or `RELEASE`."""

    study_id: int
    custodian: str
    ask: dict[str, Any]
    nonce: int
    expiry: int
    signature: bytes = b""

    @classmethod
    def new(cls, study_id: int, custodian: str, ask: dict[str, Any]) -> StudyRequest:
        """A fresh, unsigned request, valid for `LIFETIME` seconds."""
        nonce = int.from_bytes(os.urandom(32), "big")
        return cls(study_id, to_checksum_address(custodian), ask, nonce, int(time.time()) + LIFETIME)

    def typed_data(self, chain_id: int, registry: str) -> dict[str, Any]:
        """The EIP-712 typed data the sponsor signs."""
        return typed_data(
            domain=DOMAIN,
            chain_id=chain_id,
            contract=registry,
            primary_type="StudyRequest",
            fields=_STUDY_TYPE,
            message={
                "studyId": self.study_id,
                "custodian": self.custodian,
                "ask": keccak(canonical_json(self.ask)),
                "nonce": self.nonce,
                "expiry": self.expiry,
            },
        )

    def signed(self, account: LocalAccount, chain_id: int, registry: str) -> StudyRequest:
        """The request signed by the sponsor's wallet."""
        signature = sign_typed_data(account, self.typed_data(chain_id, registry))
        return StudyRequest(self.study_id, self.custodian, self.ask, self.nonce, self.expiry, signature)

    def signer(self, chain_id: int, registry: str) -> str:
        """Who signed it (`IntegrityError` if the signature is malformed)."""
        return recover_typed_data_signer(self.typed_data(chain_id, registry), self.signature)

    def to_json(self) -> dict[str, Any]:
        """The body of `POST /exchange/study`."""
        return {
            "study": self.study_id,
            "custodian": self.custodian,
            "ask": self.ask,
            "nonce": f"{self.nonce:#066x}",
            "expiry": self.expiry,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Any) -> StudyRequest:
        """A signed request from its JSON; `ValidationError` if malformed."""
        try:
            if not isinstance(data["ask"], dict):
                raise TypeError("ask is an object")
            request = cls(
                int(data["study"]),
                to_checksum_address(data["custodian"]),
                data["ask"],
                int(data["nonce"], 16),
                int(data["expiry"]),
                parse_signature(data["signature"]),
            )
            if not (0 <= request.study_id < 2**256 and 0 <= request.nonce < 2**256 and 0 <= request.expiry < 2**64):
                raise ValueError("study and nonce are uint256, expiry a uint64")
            return request
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(
                f"a study request is {{study, custodian, ask, nonce, expiry, signature}}: {exc}"
            ) from None
