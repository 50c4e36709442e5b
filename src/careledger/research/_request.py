"""The signed request a study's sponsor sends each custodian node: a release, or one aggregate query (EIP-712).

It names the study, the node asked, and the keccak256 of what is asked (the canonical
JSON of the query, or of `{"kind": "release"}`), so a node answers exactly what the
sponsor signed; a random nonce and a short expiry make it single-use. Its domain is the
exchange's (the network's IdentityRegistry), so it is valid on one network only.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from careledger.crypto import (
    Address,
    HashedJson,
    JsonKey,
    Nonce,
    Struct,
    Uint64,
    Uint256,
    parse_signature,
    recover_typed_data_signer,
    sign_typed_data,
)
from careledger.errors import ValidationError
from careledger.exchange import DOMAIN, LIFETIME

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

RELEASE = {"kind": "release"}


@dataclass(frozen=True, slots=True)
class StudyRequest(Struct):
    """A sponsor's signed ask of one node: `ask` is the JSON of a query, or `RELEASE`. It travels flat, its
    signature beside its fields (`POST /exchange/study`)."""

    PRIMARY_TYPE: ClassVar[str] = "StudyRequest"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a study request"

    study_id: Annotated[Uint256, JsonKey("study")]
    custodian: Address
    ask: HashedJson
    nonce: Nonce
    expiry: Uint64
    signature: bytes = b""

    @classmethod
    def new(cls, study_id: int, custodian: str, ask: dict[str, Any]) -> StudyRequest:
        """A fresh, unsigned request, valid for `LIFETIME` seconds."""
        return cls(study_id, custodian, ask, int.from_bytes(os.urandom(32), "big"), int(time.time()) + LIFETIME)

    def signed(self, account: LocalAccount, chain_id: int, registry: str) -> StudyRequest:
        """The request signed by the sponsor's wallet."""
        return dataclasses.replace(self, signature=sign_typed_data(account, self.typed_data(chain_id, registry)))

    def signer(self, chain_id: int, registry: str) -> str:
        """Who signed it (`InvalidSignature` if no key did)."""
        return recover_typed_data_signer(self.typed_data(chain_id, registry), self.signature)

    def to_json(self) -> dict[str, Any]:
        """The body of `POST /exchange/study`."""
        return {**Struct.to_json(self), "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, data: Any) -> StudyRequest:
        """A signed request from its JSON; `ValidationError` if malformed, `InvalidSignature` for a signature that
        is not 65 bytes of hex."""
        if not isinstance(data, dict) or "signature" not in data:
            raise ValidationError("a study request is an object of study, custodian, ask, nonce, expiry, signature")
        fields = {key: value for key, value in data.items() if key != "signature"}
        request = super(StudyRequest, cls).from_json(fields)
        return dataclasses.replace(request, signature=parse_signature(data["signature"]))
