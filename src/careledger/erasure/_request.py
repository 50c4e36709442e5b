"""What a patient signs to have her records erased, and what nodes send each other to carry it out (EIP-712, in
the exchange's domain: valid on one network only).

```
her wallet ── signs Erasure(patient, custodian, scope, nonce, expiry)      scope: {"records": [ids]} | {"all": true}
   (or, for a custodial patient, her custodian node, the scope naming her documented "instruction")
custodian ── ErasureNotice(sender, receiver, patient, her signed request, nonce, expiry) ──► each node that fetched
each node ── ErasureAnswer(peer, origin, patient, request id, outcome) ──► the custodian keeps it
```

A wallet signs the scope by its hash (the struct and its JSON carry the object), as a delivery's content is.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from careledger.crypto import Address, Bytes32, HashedJson, Nonce, Signed, Struct, Uint64, sign_typed_data
from careledger.errors import ValidationError
from careledger.exchange import DOMAIN, LIFETIME

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

MAX_RECORDS = 1000  # record ids one request names at most ({"all": true} names none)
MAX_INSTRUCTION = 200  # characters of an instruction's reference
# A notice's body at most: her request with `MAX_RECORDS` ids of 64 characters, its signature, the notice's own.
MAX_NOTICE_BYTES = 96 * 1024
_RECORD_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SCOPE = 'an erasure\'s scope is {"records": [ids]} or {"all": true}, with an "instruction" if her custodian signs'


@dataclass(frozen=True, slots=True)
class ErasureRequest(Struct):
    """A patient's request that the node `custodian` erase her records (some, or all) there and have every node
    that fetched copies do the same. Single-use (its nonce), short-lived (`LIFETIME`)."""

    PRIMARY_TYPE: ClassVar[str] = "Erasure"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "an erasure request"

    patient: Address
    custodian: Address
    scope: HashedJson
    nonce: Nonce
    expiry: Uint64

    def __post_init__(self) -> None:
        Struct.__post_init__(self)
        _check_scope(self.scope)

    @classmethod
    def new(
        cls, patient: str, custodian: str, records: Sequence[str] | None, *, instruction: str | None = None
    ) -> ErasureRequest:
        """A fresh request: of `records` (None: all of hers), naming `instruction` when her custodian signs."""
        scope: dict[str, Any] = {"all": True} if records is None else {"records": sorted(set(records))}
        if instruction is not None:
            scope["instruction"] = instruction
        nonce = int.from_bytes(os.urandom(32), "big")
        return cls(patient, custodian, scope, nonce, int(time.time()) + LIFETIME)

    @property
    def everything(self) -> bool:
        """Whether it asks for all of her records."""
        return self.scope.get("all") is True

    @property
    def records(self) -> tuple[str, ...] | None:
        """The ids of the records it names; None if it asks for all of them."""
        return None if self.everything else tuple(self.scope["records"])

    @property
    def instruction(self) -> str | None:
        """The reference of her documented instruction, when her custodian signed for her."""
        found = self.scope.get("instruction")
        return None if found is None else str(found)

    @property
    def request_id(self) -> str:
        """How the request is known on every node: its nonce, 0x and 64 hex digits."""
        return f"{self.nonce:#066x}"

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> SignedErasure:
        """The request signed by `account` (her wallet, or her custodian node's)."""
        return SignedErasure(self, sign_typed_data(account, self.typed_data(chain_id, registry)))


@dataclass(frozen=True, slots=True)
class SignedErasure(Signed[ErasureRequest]):
    """Her request and its signature, as it travels: in `$erase`'s Parameters, and inside each notice."""

    REQUEST: ClassVar[type[Struct]] = ErasureRequest


@dataclass(frozen=True, slots=True)
class ErasureNotice(Struct):
    """What the custodian signs to pass her signed request on to a node that fetched copies: from whom, to whom,
    whose; its own nonce and expiry make each attempt single-use (her request's may have expired meanwhile)."""

    PRIMARY_TYPE: ClassVar[str] = "ErasureNotice"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "an erasure notice"

    sender: Address
    receiver: Address
    patient: Address
    request: HashedJson  # her signed request's JSON
    nonce: Nonce
    expiry: Uint64

    @classmethod
    def new(cls, sender: str, receiver: str, signed: SignedErasure) -> ErasureNotice:
        """A fresh notice of `signed` from `sender` to `receiver`."""
        nonce = int.from_bytes(os.urandom(32), "big")
        return cls(sender, receiver, signed.request.patient, signed.to_json(), nonce, int(time.time()) + LIFETIME)

    def erasure(self) -> SignedErasure:
        """Her signed request, read from the notice; `ValidationError` if it is none."""
        return SignedErasure.from_json(self.request)

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> SignedNotice:
        """The notice signed by `account`, the sending node's wallet."""
        return SignedNotice(self, sign_typed_data(account, self.typed_data(chain_id, registry)))


@dataclass(frozen=True, slots=True)
class SignedNotice(Signed[ErasureNotice]):
    """A notice and the sending node's signature: the body of `POST /exchange/erasure`."""

    REQUEST: ClassVar[type[Struct]] = ErasureNotice


@dataclass(frozen=True, slots=True)
class ErasureAnswer(Struct):
    """What a node that got a notice signs back: which request, and what it erased and kept (`outcome`: record ids
    erased, and each kept record with the rule that keeps it)."""

    PRIMARY_TYPE: ClassVar[str] = "ErasureAnswer"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "an erasure answer"

    peer: Address
    origin: Address
    patient: Address
    request: Bytes32
    outcome: HashedJson

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> SignedAnswer:
        """The answer signed by `account`, the answering node's wallet."""
        return SignedAnswer(self, sign_typed_data(account, self.typed_data(chain_id, registry)))


@dataclass(frozen=True, slots=True)
class SignedAnswer(Signed[ErasureAnswer]):
    """An answer and the answering node's signature, as the custodian keeps it."""

    REQUEST: ClassVar[type[Struct]] = ErasureAnswer


def _check_scope(scope: dict[str, Any]) -> None:
    """`ValidationError` unless `scope` is all of her records or a list of record ids, with an optional
    instruction's reference."""
    keys = set(scope)
    if not keys <= {"records", "all", "instruction"} or ("records" in keys) == ("all" in keys):
        raise ValidationError(_SCOPE)
    if "all" in keys and scope["all"] is not True:
        raise ValidationError(_SCOPE)
    records = scope.get("records", [])
    if "records" in keys and (not isinstance(records, list) or not 0 < len(records) <= MAX_RECORDS):
        raise ValidationError(f"an erasure names 1 to {MAX_RECORDS:,} record ids (or all of her records)")
    for record_id in records:
        if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
            raise ValidationError(f"an erasure names records by id (1-64 of A-Z a-z 0-9 - .), not {record_id!r:.80}")
    instruction = scope.get("instruction")
    if "instruction" in keys and (not isinstance(instruction, str) or not 0 < len(instruction) <= MAX_INSTRUCTION):
        raise ValidationError(f"an instruction's reference is 1 to {MAX_INSTRUCTION} characters")
