"""The signed request one node sends another for a patient's records (EIP-712).

The request names who asks, whom, about which patient, for which categories and purpose;
a random nonce and a short expiry make it single-use. The domain's verifying contract is
the network's IdentityRegistry, so a request is valid on one network only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from careledger.crypto import parse_signature, recover_typed_data_signer, sign_typed_data, typed_data
from careledger.errors import ValidationError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DOMAIN = ("CareLedger Exchange", "1")
LIFETIME = 300  # seconds a request stays valid

_FETCH_TYPE = [
    {"name": "requester", "type": "address"},
    {"name": "custodian", "type": "address"},
    {"name": "patient", "type": "address"},
    {"name": "categories", "type": "uint16"},
    {"name": "purpose", "type": "uint8"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint64"},
]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What the requester asks for. `categories` and `purpose` are ConsentRegistry bitmasks."""

    requester: str
    custodian: str
    patient: str
    categories: int
    purpose: int
    nonce: int
    expiry: int

    @classmethod
    def new(cls, requester: str, custodian: str, patient: str, categories: int, purpose: int) -> FetchRequest:
        """A fresh request: its nonce random, its deadline `LIFETIME` seconds away."""
        return cls(
            to_checksum_address(requester),
            to_checksum_address(custodian),
            to_checksum_address(patient),
            categories,
            purpose,
            int.from_bytes(os.urandom(32), "big"),
            int(time.time()) + LIFETIME,
        )

    def typed_data(self, chain_id: int, registry: str) -> dict[str, Any]:
        """The EIP-712 typed data the requesting node signs."""
        return typed_data(
            domain=DOMAIN,
            chain_id=chain_id,
            contract=registry,
            primary_type="Fetch",
            fields=_FETCH_TYPE,
            message={
                "requester": self.requester,
                "custodian": self.custodian,
                "patient": self.patient,
                "categories": self.categories,
                "purpose": self.purpose,
                "nonce": self.nonce,
                "expiry": self.expiry,
            },
        )

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> SignedFetch:
        """The request signed by `account`, the requesting node's wallet."""
        return SignedFetch(self, sign_typed_data(account, self.typed_data(chain_id, registry)))

    def to_json(self) -> dict[str, Any]:
        """The request as JSON."""
        return {
            "requester": self.requester,
            "custodian": self.custodian,
            "patient": self.patient,
            "categories": self.categories,
            "purpose": self.purpose,
            "nonce": f"{self.nonce:#066x}",
            "expiry": self.expiry,
        }

    @classmethod
    def from_json(cls, data: Any) -> FetchRequest:
        """A request from its JSON; `ValidationError` if malformed, or if a number is outside its EIP-712 type
        (which the signature check could not even encode)."""
        try:
            request = cls(
                to_checksum_address(data["requester"]),
                to_checksum_address(data["custodian"]),
                to_checksum_address(data["patient"]),
                int(data["categories"]),
                int(data["purpose"]),
                int(data["nonce"], 16),
                int(data["expiry"]),
            )
            widths = ((request.categories, 16), (request.purpose, 8), (request.nonce, 256), (request.expiry, 64))
            if not all(0 <= value < 2**bits for value, bits in widths):
                raise ValueError("categories is a uint16, purpose a uint8, nonce a uint256, expiry a uint64")
            return request
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"not a fetch request: {exc}") from None


@dataclass(frozen=True, slots=True)
class SignedFetch:
    request: FetchRequest
    signature: bytes

    def signer(self, chain_id: int, registry: str) -> str:
        """Who signed it (`IntegrityError` if the signature is malformed)."""
        return recover_typed_data_signer(self.request.typed_data(chain_id, registry), self.signature)

    def to_json(self) -> dict[str, Any]:
        """The signed request as JSON, the body of `POST /exchange/fetch`."""
        return {"request": self.request.to_json(), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: Any) -> SignedFetch:
        """A signed request from its JSON; `ValidationError` if malformed."""
        if not isinstance(data, dict):
            raise ValidationError("a signed fetch is {request, signature}")
        return cls(FetchRequest.from_json(data.get("request")), parse_signature(data.get("signature")))
