"""The signed request one node sends another for a patient's records (EIP-712).

The request names who asks, whom, about which patient, for which categories and purpose;
a random nonce and a short expiry make it single-use. The domain's verifying contract is
the network's IdentityRegistry, so a request is valid on one network only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from careledger.crypto import Address, Nonce, Signed, Struct, Uint8, Uint16, Uint64, sign_typed_data

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DOMAIN = ("CareLedger Exchange", "1")
LIFETIME = 300  # seconds a request stays valid


@dataclass(frozen=True, slots=True)
class FetchRequest(Struct):
    """What the requester asks for. `categories` and `purpose` are ConsentRegistry bitmasks."""

    PRIMARY_TYPE: ClassVar[str] = "Fetch"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a fetch request"

    requester: Address
    custodian: Address
    patient: Address
    categories: Uint16
    purpose: Uint8
    nonce: Nonce
    expiry: Uint64

    @classmethod
    def new(cls, requester: str, custodian: str, patient: str, categories: int, purpose: int) -> FetchRequest:
        """A fresh request: its nonce random, its deadline `LIFETIME` seconds away."""
        nonce = int.from_bytes(os.urandom(32), "big")
        return cls(requester, custodian, patient, categories, purpose, nonce, int(time.time()) + LIFETIME)

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> SignedFetch:
        """The request signed by `account`, the requesting node's wallet."""
        return SignedFetch(self, sign_typed_data(account, self.typed_data(chain_id, registry)))


@dataclass(frozen=True, slots=True)
class SignedFetch(Signed[FetchRequest]):
    """A fetch request and the requesting node's signature, the body of `POST /exchange/fetch`."""

    REQUEST: ClassVar[type[Struct]] = FetchRequest
