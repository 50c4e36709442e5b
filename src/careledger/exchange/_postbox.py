"""The receiving side of a message delivery: check all of it, then keep the message as the patient's record.

```
signed delivery ─ signature of the sender node, addressed here, fresh, nonce unused ─► sender registered, active
   ─► sealed content opened with this node's key ─► a Communication of that patient
   ─► to a practitioner here: he is of this node's care team; the patient herself or her custodian sends it
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
    message_context,
    names_patient,
)
from careledger.fhir import loads_object, provenance_view
from careledger.identity import AFFILIATION, did_pkh
from careledger.records import Draft, Resource
from careledger.store import Database

INTERACTION = "message"
_log = logging.getLogger(__name__)
_THREAD = ("inResponseTo", "partOf")  # the messages a Communication answers or belongs to


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
        open, `AccessDenied` (audited) when the sender may not send it here."""
        delivery = signed.request
        identity = self._identity()
        signer = signed.signer(self.chain_id, identity.address)
        if signer != delivery.sender:
            raise Unauthenticated(f"the delivery is signed by {signer}, not by the sender {delivery.sender}")
        if delivery.receiver != self.address:
            raise ValidationError(f"the delivery is for {delivery.receiver}, not this node ({self.address})")
        spend_fresh(self._db, delivery.sender, delivery.nonce, delivery.expiry, self._clock())
        sender = identity.actor(delivery.sender)
        if sender is None or not sender.active:
            raise Unauthenticated("the sender is not an active registered node")
        message = self._open(delivery)
        why = self._refusal(identity, delivery, message.data)
        if why is not None:
            refusal = self._access.for_caller(Accessor(delivery.sender, Purpose.TREAT)).refuse
            raise refusal(delivery.patient, why, INTERACTION)
        return self._keep(delivery, message)

    def _open(self, delivery: Delivery) -> Draft:
        """The Communication inside, sealed to this node for this patient by this sender, validated as any record
        is; `ValidationError` (or `InvalidResource`) if it is none."""
        envelope = content_envelope(delivery.content)
        context = message_context(delivery.sender, delivery.receiver, delivery.patient)
        try:
            plaintext = unseal(envelope, context, self._key())
        except DecryptionError as exc:
            raise ValidationError(f"the message does not open with this node's key: {exc}") from None
        communication = loads_object(plaintext, what="the message")
        if communication.get("resourceType") != "Communication" or not isinstance(communication.get("id"), str):
            raise ValidationError("the message is not a FHIR Communication with an id")
        return self._records.prepare(communication, patient_address=delivery.patient)

    def _refusal(self, identity: IdentityRegistry, delivery: Delivery, communication: Resource) -> str | None:
        """Why the sender may not send this message here; None if it may."""
        patient = delivery.patient
        if not names_patient(communication.get("subject"), patient):
            return "the message's subject is not the patient the delivery names"
        recipients = [r for r in communication.get("recipient", []) if isinstance(r, dict)]
        if any(names_patient(r, patient) for r in recipients):
            return self._to_patient(identity, delivery, communication)
        if not names_patient(communication.get("sender"), patient):
            return "a message to a practitioner is written by the patient"
        if delivery.sender != patient and delivery.sender not in custodians_of(identity, patient):
            return "the sender node is neither the patient nor her custodian"
        here = [a for r in recipients if (a := referenced_wallet(r)) and self._access.care_team(a)]
        if not here:
            return "the message names no practitioner of this node's care team"
        return None

    def _to_patient(self, identity: IdentityRegistry, delivery: Delivery, communication: Resource) -> str | None:
        """Why a message to the patient may not be kept here; None if it may."""
        patient = delivery.patient
        if self.address not in custodians_of(identity, patient):
            return "this node is not the patient's custodian"
        author = referenced_wallet(communication.get("sender"))
        if author is None or not identity.has_credential_from(author, AFFILIATION, delivery.sender, self._clock()):
            return "the message's author is not of the sender node's care team"
        if self._answers(communication, patient, author) or self._consented(patient, author, delivery.sender):
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
                if any(referenced_wallet(r) == author for r in earlier.get("recipient", [])):
                    return True
        return False

    def _consented(self, patient: str, author: str, node: str) -> bool:
        """Whether `patient` consents to `author` or his node for treatment now, whatever the categories (a visit's
        consent)."""
        self._consent.sync()
        now = self._clock()
        grants = (g for who in (author, node) for g in self._consent.between(patient, who))
        return any(g.live_at(now) and Purpose.TREAT in g.purposes for g in grants)

    def _keep(self, delivery: Delivery, message: Draft) -> Delivered:
        """The message stored as the patient's record, with its Provenance, and audited as received."""
        patient, record_id = delivery.patient, message.record_id
        try:
            held = self._records.get(record_id)
        except UnknownRecord:
            held = None
        if held is not None:
            if held.resource_type != "Communication" or held.patient_address != patient:
                raise Conflict(f"a record {record_id} of another kind or patient is here already")
            return Delivered(self.address, record_id, None, duplicate=True)
        content_hash = keccak(canonical_json(delivery.content))
        provenance_id = f"message-{uuid.uuid4()}"
        provenance = provenance_view(
            provenance_id=provenance_id,
            recorded=datetime.now(UTC),
            custodian_did=did_pkh(self.chain_id, delivery.sender),
            sources=[(f"Communication/{record_id}/_history/1", content_hash)],
        )
        self._records.store([message, self._records.prepare(provenance, patient_address=patient)])
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
