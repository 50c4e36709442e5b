"""A patient's accounting of disclosures from every node that holds her records, gathered by one node she trusts.

She signs one EIP-712 `Accounting` request (her wallet, wherever it is: a browser's will
do) naming the node that gathers for her. That node sends it to every node with an
endpoint in the IdentityRegistry; each checks the signature is hers (or her claimed
wallet's), the request fresh and unused there, and answers with her accounting sealed to
the gathering node's registered encryption key, auditing that it did. Nothing of the
accounting crosses the network in the clear, and nobody but she can ask for it.

```
patient's wallet ── signs Accounting(patient, requester, nonce, expiry)
requester ──► every custodian: POST /exchange/accounting
custodian: signature → her? fresh? unused? requester registered? → her entries, sealed to the requester
```
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from careledger.access import Accessor, Disclosures
from careledger.audit import Access, Action, AuditLog, Entry, Outcome
from careledger.chain import IdentityRegistry
from careledger.consent import Purpose
from careledger.crypto import (
    Address,
    Envelope,
    Nonce,
    PrivateKey,
    RecordContext,
    SealedKey,
    Signed,
    Struct,
    Uint64,
    seal,
    unseal,
)
from careledger.errors import CareLedgerError, DecryptionError, IntegrityError, Unauthenticated, ValidationError
from careledger.exchange._custodian import spend_fresh
from careledger.exchange._request import DOMAIN, LIFETIME
from careledger.store import Database

INTERACTION = "accounting"
MAX_ENTRIES = 500  # the newest, per node


@dataclass(frozen=True, slots=True)
class AccountingRequest(Struct):
    """What the patient signs: whose accounting, who gathers it, until when (a nonce makes it single-use). Her
    wallet signs its typed data (the exchange's domain: one network only), and it comes back through a page
    (`from_typed_data`)."""

    PRIMARY_TYPE: ClassVar[str] = "Accounting"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "an accounting request"

    patient: Address
    requester: Address
    nonce: Nonce
    expiry: Uint64

    @classmethod
    def new(cls, patient: str, requester: str) -> AccountingRequest:
        """A fresh request, valid for `LIFETIME` seconds."""
        return cls(patient, requester, int.from_bytes(os.urandom(32), "big"), int(time.time()) + LIFETIME)


@dataclass(frozen=True, slots=True)
class SignedAccounting(Signed[AccountingRequest]):
    """A request and the patient's signature of it, as it travels (`POST /exchange/accounting`)."""

    REQUEST: ClassVar[type[Struct]] = AccountingRequest


@dataclass(frozen=True, slots=True)
class NodeAccounting:
    """One node's answer as the gathering node opened it: its entries, or why there are none."""

    custodian: str
    entries: tuple[dict[str, Any], ...]
    problem: str | None = None


def entry_view(entry: Entry) -> dict[str, Any]:
    """An audit entry as another node sends it: who, what, why, the outcome (no record contents)."""
    access = entry.access
    return {
        "seq": entry.seq,
        "recorded_at": entry.recorded_at.isoformat(),
        "agent": access.agent,
        "interaction": access.interaction,
        "purpose": access.purpose,
        "allowed": access.allowed,
        "break_glass": access.break_glass,
        "records": len(access.entities),
        "detail": access.detail,
    }


class AccountingDesk:
    """A node's side of both: answering for its records' patients, and gathering for its own."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        disclosures: Disclosures,
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        key: Callable[[], PrivateKey],
        chain_id: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.audit = audit
        self.disclosures = disclosures
        self._identity = identity
        self.address = address
        self._key = key
        self.chain_id = chain_id
        self._clock = clock

    def prepare(self, patient: str) -> dict[str, Any]:
        """Typed data for `patient` to sign, naming this node as the one that gathers her accounting."""
        return AccountingRequest.new(patient, self.address).typed_data(self.chain_id, self._identity().address)

    def hers(self, signed: SignedAccounting) -> None:
        """`Unauthenticated` unless the patient (or the wallet that claimed her identity) signed it."""
        identity = self._identity()
        signer = signed.signer(self.chain_id, identity.address)
        if signed.request.patient not in (signer, identity.identity_of(signer)):
            raise Unauthenticated(f"the request is signed by {signer}, not by the patient {signed.request.patient}")

    def answer(self, signed: SignedAccounting) -> dict[str, Any]:
        """Her entries here, sealed to the requester; `Unauthenticated` for a forged, stale or replayed request."""
        request = signed.request
        self.hers(signed)
        spend_fresh(self.db, request.patient, request.nonce, request.expiry, self._clock())
        requester = self._identity().actor(request.requester)
        if requester is None or not requester.active:
            raise Unauthenticated("the requester is not an active registered actor")
        entries = self.disclosures.of(Accessor(request.patient, Purpose.PATRQT), request.patient, limit=MAX_ENTRIES)
        plaintext = json.dumps([entry_view(e) for e in entries]).encode()
        envelope = seal(plaintext, _context(request), [requester.encryption_key])
        self.audit.record(Access(Action.READ, INTERACTION, Outcome.SUCCESS, request.requester, request.patient))
        return {
            "custodian": self.address,
            "ciphertext": envelope.ciphertext.hex(),
            "sealed_key": envelope.sealed_keys[0].to_bytes().hex(),
        }

    def gather(self, signed: SignedAccounting) -> list[NodeAccounting]:
        """Her accounting from every other node with an endpoint in the IdentityRegistry.

        A node that cannot answer is reported, not fatal: the rest still arrive.
        """
        self.hers(signed)
        if signed.request.requester != self.address:
            raise ValidationError("this request names another node to gather the accounting")
        from careledger.client import FhirClient  # httpx: imported for a gathering only

        found = []
        for node in self._identity().nodes():
            if node.address == self.address:
                continue
            try:
                with FhirClient(node.endpoint) as client:
                    answer = client.accounting(signed.to_json())
                found.append(NodeAccounting(node.address, self._open(signed, answer)))
            except CareLedgerError as exc:
                found.append(NodeAccounting(node.address, (), str(exc)))
        return found

    def _open(self, signed: SignedAccounting, answer: Any) -> tuple[dict[str, Any], ...]:
        try:
            envelope = Envelope(
                bytes.fromhex(answer["ciphertext"]), (SealedKey.from_bytes(bytes.fromhex(answer["sealed_key"])),)
            )
            entries = json.loads(unseal(envelope, _context(signed.request), self._key()))
        except (KeyError, TypeError, ValueError, DecryptionError) as exc:
            raise IntegrityError(f"the node's answer does not open: {exc}") from None
        if not isinstance(entries, list):
            raise IntegrityError("the node's answer is not a list of entries")
        return tuple(entries)


def _context(request: AccountingRequest) -> RecordContext:
    """What the sealed answer is bound to: this patient's accounting, for this request."""
    return RecordContext(f"accounting/{request.nonce:#066x}", 1, request.patient, INTERACTION)
