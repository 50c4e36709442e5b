"""A message (a FHIR `Communication`) carried from the node where it was written to the node of its recipient.

A patient's message to a practitioner of another node goes from her custodian (or her own agent) to the
practitioner's node; his reply goes back to her custodian. Nothing of the message travels in the clear: it is
sealed, as records are, to the receiving node's registered encryption key, and the sealed content's hash is
signed with the rest of the delivery (EIP-712, the exchange's domain), so neither can be changed on the way.

```
Communication ─canonical JSON─► seal (AES-256-GCM + HPKE to the receiver's registered key) ─► content
Delivery(sender, receiver, patient, keccak(content), nonce, expiry) ─signed by the sending node─►
   POST {receiver's endpoint}/exchange/messages ─ 5xx or no answer: again, soon (fresh nonce) ─► receipt
                                                 still down: the outbox, tried by the leader's rounds
```

The receiving side is `careledger.exchange._postbox`.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from careledger.access import referenced_wallet
from careledger.chain import IdentityRegistry
from careledger.crypto import (
    Address,
    Envelope,
    HashedJson,
    Nonce,
    RecordContext,
    SealedKey,
    Signed,
    Struct,
    Uint64,
    canonical_json,
    keccak,
    seal,
    sign_typed_data,
)
from careledger.errors import CareLedgerError, NotFound, TooLarge, ValidationError, http_status
from careledger.exchange._outbox import Outbox, Queued
from careledger.exchange._request import DOMAIN, LIFETIME
from careledger.records import MAX_RESOURCE_BYTES, Resource

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# A delivery's body: the sealed message in base64 (4/3 of it), the AEAD's nonce and tag, the sealed key and the
# signed fields around it. What the API reads of `POST /exchange/messages` at most.
MAX_DELIVERY_BYTES = MAX_RESOURCE_BYTES * 4 // 3 + 16 * 1024
ATTEMPTS = 4  # a delivery is tried this often before it waits in the outbox
BACKOFF = 0.5  # seconds before the second attempt; doubled before each further one
FLUSH_BATCH = 20  # queued messages tried again in one background round, at most
FLUSH_TIMEOUT = 10.0  # seconds a queued message's node has to answer (the round waits for it)
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery(Struct):
    """What the sending node signs: from which node to which, whose message, its sealed content (signed by its
    hash), and until when (a nonce makes it single-use)."""

    PRIMARY_TYPE: ClassVar[str] = "Delivery"
    DOMAIN: ClassVar[tuple[str, str]] = DOMAIN
    NOUN: ClassVar[str] = "a message delivery"

    sender: Address
    receiver: Address
    patient: Address
    content: HashedJson
    nonce: Nonce
    expiry: Uint64

    @classmethod
    def new(cls, sender: str, receiver: str, patient: str, content: dict[str, Any]) -> Delivery:
        """A fresh delivery: its nonce random, its deadline `LIFETIME` seconds away."""
        nonce = int.from_bytes(os.urandom(32), "big")
        return cls(sender, receiver, patient, content, nonce, int(time.time()) + LIFETIME)

    def sign(self, account: LocalAccount, chain_id: int, registry: str) -> SignedDelivery:
        """The delivery signed by `account`, the sending node's wallet."""
        return SignedDelivery(self, sign_typed_data(account, self.typed_data(chain_id, registry)))


@dataclass(frozen=True, slots=True)
class SignedDelivery(Signed[Delivery]):
    """A delivery and the sending node's signature: the body of `POST /exchange/messages`."""

    REQUEST: ClassVar[type[Struct]] = Delivery


@dataclass(frozen=True, slots=True)
class Delivered:
    """The receiving node's receipt: the message's id there (`delivered_id`), the Provenance naming the sender, and
    whether it had arrived before (a retry of a delivery whose answer was lost)."""

    receiver: str
    communication_id: str
    provenance_id: str | None
    duplicate: bool

    def to_json(self) -> dict[str, Any]:
        """The receipt as JSON."""
        return {
            "receiver": self.receiver,
            "communication": self.communication_id,
            "provenance": self.provenance_id,
            "duplicate": self.duplicate,
        }

    @classmethod
    def from_json(cls, data: Any) -> Delivered:
        """The receipt from its JSON; `ValidationError` if malformed."""
        try:
            provenance = data["provenance"]
            return cls(
                str(data["receiver"]),
                str(data["communication"]),
                None if provenance is None else str(provenance),
                bool(data["duplicate"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"the receiving node's receipt is malformed: {exc}") from None


@dataclass(frozen=True, slots=True)
class Parcel:
    """A message sealed for one node, ready to be signed and posted (again, if need be): only ciphertext."""

    receiver: str
    endpoint: str
    patient: str
    content: dict[str, Any]


def sealed_content(envelope: Envelope) -> dict[str, Any]:
    """A sealed message as it travels (the `content` a delivery signs the hash of)."""
    return {
        "ciphertext": base64.b64encode(envelope.ciphertext).decode(),
        "sealedKey": envelope.sealed_keys[0].to_bytes().hex(),
    }


def content_envelope(content: dict[str, Any]) -> Envelope:
    """The envelope in a delivery's `content`; `ValidationError` if it is not one."""
    try:
        if content.keys() != {"ciphertext", "sealedKey"}:
            raise ValueError("it holds ciphertext and sealedKey only")
        ciphertext = base64.b64decode(content["ciphertext"], validate=True)
        return Envelope(ciphertext, (SealedKey.from_bytes(bytes.fromhex(content["sealedKey"])),))
    except (TypeError, ValueError, CareLedgerError) as exc:
        raise ValidationError(f"the delivery's content is not a sealed message: {exc}") from None


def message_context(sender: str, receiver: str, patient: str) -> RecordContext:
    """What a sealed message is bound to: this patient's message from this node to that one."""
    return RecordContext(f"message/{sender}/{receiver}", 1, patient, "message")


def delivered_id(sender: str, communication_id: str) -> str:
    """The id a message delivered by the node `sender` is kept under at the receiver: keccak(sender ‖ its id), so
    a sender names only its own messages there (it can neither take nor probe another's id), and a retry of one
    delivery finds the message it stored."""
    return keccak(bytes.fromhex(sender.removeprefix("0x")) + communication_id.encode()).hex()


def names_patient(reference: Any, patient: str, chain_id: int) -> bool:
    """Whether `reference` is to the patient: naming her wallet, or else typed or written `Patient` (across nodes a
    practitioner is named by his wallet, as `Practitioner/<id>` of one node means nothing at another)."""
    if not isinstance(reference, dict):
        return False
    wallet = referenced_wallet(reference, chain_id)
    if wallet is not None:
        return wallet == patient
    written = reference.get("reference")
    return reference.get("type") == "Patient" or (isinstance(written, str) and written.startswith("Patient/"))


class Courier:
    """Carries this node's messages to the nodes of their recipients."""

    def __init__(
        self,
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        account: Callable[[], LocalAccount],
        chain_id: int,
        outbox: Outbox,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._identity = identity
        self.address = address
        self._account = account
        self.chain_id = chain_id
        self.outbox = outbox
        self._sleep = sleep

    def send(self, communication: Resource, to_node: str, *, patient: str) -> Delivered | Queued:
        """Deliver `communication`, a message of `patient`'s, to the node `to_node`, sealed to its registered key
        (`pack`, then `carry`). If the node answers 5xx or nothing to every attempt, the sealed message waits in
        the outbox (`Queued`), and the leader's rounds try it again (`flush`); a refusal (4xx) is raised."""
        parcel = self.pack(communication, to_node, patient=patient)
        try:
            return self.carry(parcel)
        except CareLedgerError as exc:
            if http_status(exc)[0] < 500:
                raise
            return Queued(parcel.receiver, self.outbox.keep(parcel.receiver, patient, parcel.content), str(exc))

    def pack(self, communication: Resource, to_node: str, *, patient: str) -> Parcel:
        """`communication` sealed for the node `to_node`; `NotFound` if it is no active node with an endpoint."""
        if communication.get("resourceType") != "Communication":
            raise ValidationError("only a Communication is delivered as a message")
        receiver = self._identity().actor(to_node)
        if receiver is None or not receiver.active or not receiver.endpoint:
            raise NotFound(f"{to_node} is no active node with an endpoint in the IdentityRegistry")
        plaintext = canonical_json(communication)
        if len(plaintext) > MAX_RESOURCE_BYTES:
            raise TooLarge(f"the message is {len(plaintext):,} bytes; the limit is {MAX_RESOURCE_BYTES:,}")
        context = message_context(self.address, receiver.address, patient)
        content = sealed_content(seal(plaintext, context, [receiver.encryption_key]))
        return Parcel(receiver.address, receiver.endpoint, patient, content)

    def sign(self, parcel: Parcel) -> SignedDelivery:
        """A fresh delivery of `parcel`, signed by this node: its own nonce, valid for `LIFETIME` seconds."""
        delivery = Delivery.new(self.address, parcel.receiver, parcel.patient, parcel.content)
        return delivery.sign(self._account(), self.chain_id, self._identity().address)

    def carry(self, parcel: Parcel) -> Delivered:
        """Post `parcel` to its node, `ATTEMPTS` times while the node answers 5xx or not at all (then its last
        error, `NodeUnreachable` for silence); a 4xx, a refusal, is raised at once. Each attempt is signed afresh:
        the receiver spends a nonce once, and the retry of a delivery whose receipt was lost is acknowledged."""
        attempt = 0
        while True:
            try:
                return self._post(parcel.endpoint, self.sign(parcel))
            except CareLedgerError as exc:
                attempt += 1
                if http_status(exc)[0] < 500 or attempt == ATTEMPTS:
                    raise
            self._sleep(BACKOFF * 2 ** (attempt - 1))

    def custodian_of(self, patient: str) -> str:
        """The node to send `patient` a message at: her custodian (the node that registered her or holds her key),
        or her own agent; `NotFound` if neither has an endpoint."""
        identity = self._identity()
        for node in (*custodians_of(identity, patient), patient):
            actor = identity.actor(node)
            if actor is not None and actor.active and actor.endpoint:
                return actor.address
        raise NotFound(f"{patient} has no custodian node with an endpoint in the IdentityRegistry")

    def flush(self, limit: int = FLUSH_BATCH) -> int:
        """Post each queued message that is due once more (the leader's background round); how many arrived. One
        refused (4xx), or gone to a node no longer registered, is dropped, and so is one given up; each is logged."""
        due = self.outbox.due(limit)
        if not due:  # most rounds: the chain is not asked
            return 0
        arrived, identity = 0, self._identity()
        for waiting in due:
            receiver = identity.actor(waiting.receiver)
            if receiver is None or not receiver.active or not receiver.endpoint:
                _log.warning("queued message %s dropped: %s has no endpoint now", waiting.parcel_id, waiting.receiver)
                self.outbox.done(waiting.parcel_id)
                continue
            parcel = Parcel(receiver.address, receiver.endpoint, waiting.patient, waiting.content)
            try:
                self._post(parcel.endpoint, self.sign(parcel), timeout=FLUSH_TIMEOUT)
            except CareLedgerError as exc:
                if http_status(exc)[0] >= 500 and self.outbox.later(waiting):
                    continue
                _log.warning("queued message %s for %s dropped: %s", waiting.parcel_id, waiting.receiver, exc)
            else:
                arrived += 1
            self.outbox.done(waiting.parcel_id)
        return arrived

    @staticmethod
    def _post(endpoint: str, signed: SignedDelivery, *, timeout: float = 30.0) -> Delivered:
        from careledger.client import FhirClient  # httpx: imported for a delivery only

        with FhirClient(endpoint, timeout=timeout) as client:
            return Delivered.from_json(client.deliver(signed.to_json()))


def custodians_of(identity: IdentityRegistry, patient: str) -> tuple[str, ...]:
    """The nodes that act for `patient` on chain, as the registry says now (two calls, no scan of its events): the
    one holding her custodial key, and the one that registered her (her custodian still, once she claimed her
    identity: her records stay there); not she herself."""
    found = (identity.custodian_of(patient), identity.registrar_of(patient))
    return tuple(dict.fromkeys(node for node in found if node is not None and node != patient))
