"""The receiving side of a message delivery: check all of it, then keep the message as the patient's record.

```
signed delivery ─ signature of the sender node, addressed here ─► sender registered, active ─► fresh, nonce unused
   ─► the sender node or this one is the patient's custodian (the registry's, now)   ◄ all before opening it
   ─► sealed content opened with this node's key ─► a Communication of that patient, under its id here
      (keccak of sender ‖ its id: a sender names only its own messages here)
   ─► to a practitioner here: her custodian sends it, and `may_message` with this node's facts allows it (her
      custodian's care team, a visit booked here, her consent)
      to the patient here: this node is her custodian; its author is of the sender node's care team, and
      answers a message of hers to him kept here (or she consents to him or his node)
   ─► stored sealed at rest by the node's "messages" work, with a Provenance naming the sender node
```

A refusal after the signature checks out is in the audit log (and the patient's accounting); nothing refused is
stored. A message that is here already (a retry whose receipt was lost) is acknowledged, not stored twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from careledger.access import Accessor, RecordAccess, SystemRepository, referenced_wallet
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry
from careledger.consent import ConsentService, Purpose
from careledger.crypto import PrivateKey, canonical_json, keccak, unseal
from careledger.errors import (
    CareLedgerError,
    Conflict,
    DecryptionError,
    Unauthenticated,
    UnknownRecord,
    ValidationError,
)
from careledger.exchange._custodian import spend_fresh
from careledger.exchange._delivery import (
    Delivered,
    Delivery,
    SignedDelivery,
    content_envelope,
    custodians_of,
    delivered_id,
    message_context,
    names_patient,
)
from careledger.fhir import loads_object, provenance_view
from careledger.identity import did_pkh
from careledger.records import Draft, Resource
from careledger.store import Database

INTERACTION = "message"
_log = logging.getLogger(__name__)
_THREAD = ("inResponseTo", "partOf")  # the messages a Communication answers or belongs to
NO_CUSTODIAN = "neither the sender node nor this one is the patient's custodian"


class Postbox:
    """Takes other nodes' deliveries of messages for the patients and practitioners of this node."""

    def __init__(
        self,
        records: SystemRepository,
        db: Database,
        access: RecordAccess,
        consent: ConsentService,
        audit: AuditLog,
        identity: Callable[[], IdentityRegistry],
        *,
        address: str,
        key: Callable[[], PrivateKey],
        chain_id: int,
        arrived: Callable[[Resource, str], None] = lambda _message, _patient: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`arrived(message, patient)`: told of each message kept (its receipts and notifications here)."""
        self._records = records
        self._db = db
        self._access = access
        self._consent = consent
        self._audit = audit
        self._identity = identity
        self.address = address
        self._key = key
        self.chain_id = chain_id
        self._arrived = arrived
        self._clock = clock

    def receive(self, signed: SignedDelivery) -> Delivered:
        """Keep the message `signed` carries, or refuse it: `Unauthenticated` for a forged, expired or replayed
        delivery or an unregistered sender, `ValidationError` for one addressed elsewhere or content that does not
        open, `AccessDenied` (audited) when the sender may not send it here. What needs no plaintext is checked
        before the message is opened: a refused one is never read."""
        delivery = signed.request
        identity = self._identity()
        signer = signed.signer(self.chain_id, identity.address)
        if signer != delivery.sender:
            raise Unauthenticated(f"the delivery is signed by {signer}, not by the sender {delivery.sender}")
        if delivery.receiver != self.address:
            raise ValidationError(f"the delivery is for {delivery.receiver}, not this node ({self.address})")
        sender = identity.actor(delivery.sender)
        if sender is None or not sender.active:
            raise Unauthenticated("the sender is not an active registered node")
        spend_fresh(self._db, delivery.sender, delivery.nonce, delivery.expiry, self._clock())
        custodians = custodians_of(identity, delivery.patient)
        if not {delivery.sender, self.address} & set(custodians):
            raise self._refused(delivery, NO_CUSTODIAN)
        message = self._open(delivery)
        why = self._refusal(delivery, custodians, message.data)
        if why is not None:
            raise self._refused(delivery, why)
        return self._keep(delivery, message)

    def _refused(self, delivery: Delivery, why: str) -> Exception:
        """The refusal of `delivery`, audited as the sender node's (and in the patient's accounting)."""
        refusal = self._access.for_caller(Accessor(delivery.sender, Purpose.TREAT)).refuse
        return refusal(delivery.patient, why, INTERACTION)

    def _open(self, delivery: Delivery) -> Draft:
        """The Communication inside, sealed to this node for this patient by this sender, validated as any record
        is, under its id here (`delivered_id`); `ValidationError` (or `InvalidResource`) if it is none."""
        envelope = content_envelope(delivery.content)
        context = message_context(delivery.sender, delivery.receiver, delivery.patient)
        try:
            plaintext = unseal(envelope, context, self._key())
        except DecryptionError as exc:
            raise ValidationError(f"the message does not open with this node's key: {exc}") from None
        communication = loads_object(plaintext, what="the message")
        if communication.get("resourceType") != "Communication" or not isinstance(communication.get("id"), str):
            raise ValidationError("the message is not a FHIR Communication with an id")
        local = self._localised(communication, delivery.sender, delivery.patient)
        return self._records.prepare(local, patient_address=delivery.patient)

    def _localised(self, communication: Resource, sender: str, patient: str) -> Resource:
        """The message under the ids of this node: its own `delivered_id`, and each message of its thread named as
        it is here (one of this node's, which the sender knows by its `delivered_id`, or one the sender sent)."""
        mine = {
            delivered_id(self.address, s.record_id): s.record_id
            for s in self._records.listing(resource_type="Communication", patient_address=patient)
        }

        def here(reference: Any) -> Any:
            written = reference.get("reference") if isinstance(reference, dict) else None
            if not isinstance(written, str) or not written.startswith("Communication/"):
                return reference
            theirs = written.removeprefix("Communication/")
            return {**reference, "reference": f"Communication/{mine.get(theirs) or delivered_id(sender, theirs)}"}

        threaded = {f: [here(r) for r in communication[f]] for f in _THREAD if isinstance(communication.get(f), list)}
        return {**communication, **threaded, "id": delivered_id(sender, communication["id"])}

    def _refusal(self, delivery: Delivery, custodians: tuple[str, ...], communication: Resource) -> str | None:
        """Why the sender may not send this message here; None if it may."""
        patient = delivery.patient
        if not names_patient(communication.get("subject"), patient, self.chain_id):
            return "the message's subject is not the patient the delivery names"
        recipients = [r for r in communication.get("recipient", []) if isinstance(r, dict)]
        if any(names_patient(r, patient, self.chain_id) for r in recipients):
            return self._to_patient(delivery, custodians, communication)
        if not names_patient(communication.get("sender"), patient, self.chain_id):
            return "a message to a practitioner is written by the patient"
        if delivery.sender not in custodians:
            return "the sender node is not the patient's custodian"
        here = [
            a
            for r in recipients
            if (a := referenced_wallet(r, self.chain_id)) and self._access.affiliated(a, self.address)
        ]
        if not here:
            return "the message names no practitioner of this node's care team"
        decision = self._access.may_deliver(patient, delivery.sender, here)
        return None if decision.allowed else decision.why

    def _to_patient(self, delivery: Delivery, custodians: tuple[str, ...], communication: Resource) -> str | None:
        """Why a message to the patient may not be kept here; None if it may."""
        patient = delivery.patient
        if self.address not in custodians:
            return "this node is not the patient's custodian"
        author = referenced_wallet(communication.get("sender"), self.chain_id)
        if author is None or not self._access.affiliated(author, delivery.sender):
            return "the message's author is not of the sender node's care team"
        if self._answers(communication, patient, author):
            return None
        self._consent.sync()
        if self._access.treats(patient, author):
            return None
        return "the patient has not written to this practitioner, nor consented to him"

    def _answers(self, communication: Resource, patient: str, author: str) -> bool:
        """Whether `communication` answers (or continues a thread of) a message of `patient`'s to `author` kept here."""
        for field in _THREAD:
            for reference in communication.get(field, []):
                written = reference.get("reference") if isinstance(reference, dict) else None
                if not isinstance(written, str) or not written.startswith("Communication/"):
                    continue
                try:
                    stored = self._records.get(written.removeprefix("Communication/"))
                except UnknownRecord:
                    continue
                if stored.resource_type != "Communication" or stored.patient_address != patient:
                    continue
                earlier = self._records.open(stored)
                if any(referenced_wallet(r, self.chain_id) == author for r in earlier.get("recipient", [])):
                    return True
        return False

    def _keep(self, delivery: Delivery, message: Draft) -> Delivered:
        """The message stored as the patient's record, with its Provenance, and audited as received; one here
        already under its id (a retry, or two at once) is acknowledged, stored once."""
        patient, record_id = delivery.patient, message.record_id
        content_hash = keccak(canonical_json(delivery.content))
        provenance_id = f"message-{uuid.uuid4()}"
        provenance = provenance_view(
            provenance_id=provenance_id,
            recorded=datetime.now(UTC),
            custodian_did=did_pkh(self.chain_id, delivery.sender),
            sources=[(f"Communication/{record_id}/_history/1", content_hash)],
        )
        try:
            self._records.store([message, self._records.prepare(provenance, patient_address=patient)], fresh=True)
        except Conflict:  # stored by an earlier delivery of it, or by one at the same time
            held = self._records.get(record_id)
            if held.resource_type != "Communication" or held.patient_address != patient:
                raise
            return Delivered(self.address, record_id, None, duplicate=True)
        self._audit.record(
            Access(
                action=Action.CREATE,
                interaction="receive",
                outcome=Outcome.SUCCESS,
                agent=delivery.sender,
                patient=patient,
                entities=(f"Communication/{record_id}",),
                purpose=Purpose.TREAT.value,
                detail=f"message from {delivery.sender}",
            )
        )
        try:
            self._arrived(message.data, patient)
        except CareLedgerError as failed:  # kept and audited: only its notification is lost
            _log.warning("message %s kept, but its readers were not told: %s", record_id, failed)
        return Delivered(self.address, record_id, provenance_id, duplicate=False)
