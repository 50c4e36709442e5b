"""Messages: threads between a patient and her care team, as FHIR Communications written through the caller's door.

```
send ─door.store(Communication; also: a receipt row per participant)─► sealed record + audit, one transaction
     ├─► events.publish(each other participant, "message": thread id, unread count)
     └─► courier.send(…, practitioner's node), for a practitioner affiliated elsewhere
read_thread ─door.read(head) + door.search(part-of=head)─► messages, oldest first; receipts marked read
```

A thread is its first Communication, the head, and the Communications `partOf` it. The head is a message like
the others, so a thread needs no record that is not one (a CommunicationRequest would be a request nobody made;
an Encounter would tie messages to a visit they may have nothing to do with) and a patient's thread is in her
compartment, sealed to her and judged by the same policy as every message of it. The patient is the
Communication's `subject` (and `sender` or a `recipient`); a practitioner is named by her wallet (see
`careledger.access.wallet_reference`). Who may write to whom is the door's to decide (`may_message`); this
service only builds the messages, keeps their receipts and notifies.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import is_address, to_checksum_address

from careledger.access import Repository, referenced_wallet, wallet_reference
from careledger.errors import CareLedgerError, NotFound, TooLarge, UnknownRecord, ValidationError, Withheld
from careledger.fhir import fhir_instant
from careledger.records import Resource, search_query
from careledger.telehealth._attachments import Attachment, checked
from careledger.telehealth._events import Event, Events, stream
from careledger.telehealth._receipts import Receipts, Unread

MAX_TEXT = 10_000  # characters of one message's text
_PREVIEW = 80
_log = logging.getLogger(__name__)


class Courier(Protocol):
    """Delivers a Communication to another node (`careledger.exchange`'s courier)."""

    def send(self, communication: Resource, to_node: str, *, patient: str) -> object:
        """Seal `communication`, a message of `patient`'s, to the node `to_node` and deliver it."""

    def custodian_of(self, patient: str) -> str:
        """The node `patient`'s messages go to (her custodian, or her own agent)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """Whether one participant of a message has read it, and when (seconds since the epoch)."""

    reader: str
    read_at: float | None

    def as_json(self) -> dict[str, Any]:
        """As JSON: the reader's wallet, whether and when (a FHIR instant) she read it."""
        read = None if self.read_at is None else fhir_instant(self.read_at)
        return {"reader": self.reader, "read": self.read_at is not None, "readAt": read}


@dataclass(frozen=True, slots=True)
class Thread:
    """One thread a reader takes part in: its head's id, patient, start and first words, her unread count."""

    thread: str
    patient: str
    started: str
    preview: str
    unread: int

    def as_json(self) -> dict[str, Any]:
        """As JSON, as the API and `message list --json` show it."""
        return {
            "thread": self.thread,
            "patient": self.patient,
            "started": self.started,
            "preview": self.preview,
            "unread": self.unread,
        }


def text_of(message: Resource) -> str:
    """A message's text: its `contentString` payloads, joined."""
    return "\n".join(str(p["contentString"]) for p in message.get("payload", []) if "contentString" in p)


class Messages:
    """Sending and reading messages in threads, unread counts and read receipts, notifications."""

    def __init__(
        self,
        receipts: Receipts,
        events: Events,
        *,
        custodian: str,
        chain_id: int,
        node_of: Callable[[str], str | None] = lambda _wallet: None,
        treats: Callable[[str, str], bool] = lambda _patient, _wallet: False,
        courier: Callable[[], Courier | None] = lambda: None,
        reminders: Callable[[str], list[Event]] = lambda _wallet: [],
    ) -> None:
        """`node_of(wallet)`: the node a practitioner reads her messages at (None: none known); `treats(patient,
        wallet)`: whether the patient consents to him (or his node) for treatment, which a message of hers written
        by another needs to leave this node; `courier()`, the exchange's, asked only for a message to a
        practitioner of another node; `reminders(wallet)`, the events about her visits soon to come a stream opens
        with."""
        self._receipts = receipts
        self.events = events
        self._custodian = custodian
        self._chain_id = chain_id
        self._node_of = node_of
        self._treats = treats
        self._courier = courier
        self._reminders = reminders

    def send(
        self,
        door: Repository,
        text: str,
        *,
        patient: str | None = None,
        to: Sequence[str] = (),
        thread: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> Resource:
        """A message from the door's caller, stored (sealed, audited) and notified: a new thread about Patient
        `patient` to the practitioners `to` (wallets), or a reply in `thread` (to its participants, or `to`).
        The patient writes to practitioners; anyone else writes to the patient (and to `to` besides)."""
        files = checked(tuple(attachments))
        if len(text) > MAX_TEXT:
            raise TooLarge(f"a message's text is at most {MAX_TEXT:,} characters")
        if not text.strip() and not files:
            raise ValidationError("a message needs text or an attachment")
        head = self._head(door, thread) if thread is not None else None
        patient_id, her, held = _whose(door, head, patient)
        writer = door.accessor.address
        practitioners = [w for w in _wallets(to) or _others(head, her, self._chain_id) if w not in (writer, her)]
        if writer == her and not practitioners:
            raise ValidationError("name the practitioner(s) the message is to")
        message = self._message(patient_id, writer == her, writer, practitioners, text, files, head)
        draft = door.prepare(message, patient_address=her)
        thread_id = head["id"] if head is not None else draft.record_id
        participants = [her, *practitioners]
        stored = door.store(
            [draft],
            also=lambda session, _: self._receipts.add(session, draft.record_id, thread_id, writer, participants),
        )[0]
        sent = {
            **draft.data,
            "meta": {"versionId": str(stored.version), "lastUpdated": fhir_instant(stored.last_updated)},
        }
        self._notify([p for p in participants if p != writer], thread_id, draft.record_id)
        abroad = practitioners if writer == her else [p for p in practitioners if self._treats(her, p)]
        self._forward(sent, abroad, her, to_her=not held)
        return sent

    def _message(
        self,
        patient_id: str,
        from_patient: bool,
        writer: str,
        practitioners: list[str],
        text: str,
        files: tuple[Attachment, ...],
        head: Resource | None,
    ) -> Resource:
        """The Communication: from the patient to the practitioners, or from `writer` to her (and them)."""
        patient = {"reference": f"Patient/{patient_id}"}
        kind = "Organization" if writer == self._custodian else "Practitioner"
        recipients = [wallet_reference("Practitioner", p, self._chain_id) for p in practitioners]
        payload = [{"contentString": text}] if text.strip() else []
        message: Resource = {
            "resourceType": "Communication",
            "id": str(uuid.uuid4()),
            "status": "completed",
            "subject": patient,
            "sent": fhir_instant(time.time()),
            "sender": patient if from_patient else wallet_reference(kind, writer, self._chain_id),
            "recipient": recipients if from_patient else [patient, *recipients],
            "payload": payload + [{"contentAttachment": f.fhir()} for f in files],
        }
        if head is not None:
            message["partOf"] = [{"reference": f"Communication/{head['id']}"}]
        return message

    def _notify(self, readers: list[str], thread_id: str, communication_id: str) -> None:
        """A `message` event to each of `readers`: the thread, the message and her unread count (no text)."""
        for reader in readers:
            unread = self._receipts.unread(reader).total
            self.events.publish(
                reader, "message", {"thread": thread_id, "communication": communication_id, "unread": unread}
            )

    def _forward(self, message: Resource, practitioners: list[str], patient: str, *, to_her: bool) -> None:
        """Hand the stored message to the courier for each other node one of `practitioners` (those she wrote to,
        or consents to: her words leave this node for no one else) belongs to, and,
        `to_her`, to the patient's custodian (a reply written here to a patient of another node). It is kept
        here whatever happens there: a delivery that fails is logged (the courier retries what it can)."""
        courier = self._courier()
        if courier is None:
            return
        nodes = [n for n in dict.fromkeys(map(self._node_of, practitioners)) if n and n != self._custodian]
        try:
            if to_her and (custodian := courier.custodian_of(patient)) not in (*nodes, self._custodian):
                nodes.append(custodian)
            for node in nodes:
                courier.send(message, node, patient=patient)
        except CareLedgerError as failed:
            _log.warning("message %s not delivered to every node: %s", message["id"], failed)

    def arrived(self, message: Resource, patient: str, thread_id: str | None = None) -> None:
        """Receipts and notifications for a message another node delivered (stored already, as `patient`'s):
        unread for each participant here but its sender."""
        sender = referenced_wallet(message.get("sender"), self._chain_id) or patient
        wallets = [referenced_wallet(r, self._chain_id) for r in message.get("recipient", [])]
        participants = list(dict.fromkeys([patient, *(w for w in wallets if w is not None)]))
        head = thread_id or _part_of(message) or str(message["id"])
        self._receipts.record(str(message["id"]), head, sender, participants)
        self._notify([p for p in participants if p != sender], head, str(message["id"]))

    def thread(self, door: Repository, thread_id: str) -> list[Resource]:
        """The messages of a thread (named by any of them) the caller may read, oldest first."""
        head = self._head(door, thread_id)
        query, _ = search_query("Communication", [("part-of", f"Communication/{head['id']}")], patient_address=None)
        replies = [r for r in door.search(query) if r["id"] != head["id"]]
        return sorted([head, *replies], key=lambda m: (str(m.get("sent", "")), str(m["id"])))

    def read_thread(self, door: Repository, thread_id: str) -> list[Resource]:
        """`thread`, with every message of it the caller was sent marked read."""
        messages = self.thread(door, thread_id)
        self._read(door.accessor.address, [str(m["id"]) for m in messages], str(messages[0]["id"]))
        return messages

    def mark_read(self, door: Repository, communication_id: str) -> Receipt:
        """Mark one message the caller was sent read (once: a second time keeps the first time); `NotFound` if it
        was not sent to her (her own message included: its sender read it as she wrote it), told as an unknown id
        if she may not read it."""
        message = self._communication(door, communication_id)
        reader = door.accessor.address
        sender = referenced_wallet(message.get("sender")) or door.stored(communication_id).patient_address
        if reader == sender or not self._read(reader, [communication_id], _part_of(message) or communication_id):
            raise NotFound(f"Communication/{communication_id} was not sent to you")
        return Receipt(reader, self._receipts.read_at(communication_id, [reader]).get(reader))

    def _read(self, reader: str, communication_ids: list[str], thread_id: str) -> int:
        """Mark them read for `reader`; her other streams hear her new unread count."""
        marked = self._receipts.mark(reader, communication_ids)
        if marked:
            unread = self._receipts.unread(reader).total
            self.events.publish(reader, "message", {"thread": thread_id, "unread": unread})
        return marked

    def receipts(self, door: Repository, communication_id: str) -> list[Receipt]:
        """Who of a message's participants has read it, and when, if the caller may read the message."""
        stored = door.stored(communication_id)
        message = self._communication(door, communication_id)
        named = [referenced_wallet(r, self._chain_id) for r in [message.get("sender"), *message.get("recipient", [])]]
        wallets = list(dict.fromkeys([stored.patient_address, *(w for w in named if w is not None)]))
        read = self._receipts.read_at(communication_id, wallets)
        return [Receipt(wallet, read[wallet]) for wallet in wallets if wallet in read]

    def notifications(
        self, reader: str, loop: asyncio.AbstractEventLoop, signed_in: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[str]:
        """`reader`'s server-sent event stream, for a face to answer with (run it off the loop: it asks the
        database): subscribed now, so a refusal (`TooMany`) comes before the answer starts; her unread count and
        her visits soon to come first, then each notification, until `signed_in()` says her session ended."""
        subscription = self.events.subscribe(reader, loop)
        try:
            first = [Event("message", self.unread(reader).as_json()), *self._reminders(reader)]
        except BaseException:
            subscription.close()
            raise
        return stream(subscription, first, signed_in)

    def unread(self, reader: str) -> Unread:
        """`reader`'s unread messages, in all and per thread."""
        return self._receipts.unread(reader)

    def threads(self, door: Repository) -> list[Thread]:
        """The threads the caller takes part in and may still read, the newest first."""
        reader = door.accessor.address
        unread = self._receipts.unread(reader).threads
        found = []
        for thread_id in self._receipts.threads(reader):
            try:
                head = self._communication(door, thread_id)
            except (NotFound, Withheld):  # deleted, or no longer hers to read (a consent ended)
                continue
            preview = " ".join(text_of(head).split())[:_PREVIEW]
            started = str(head.get("sent", ""))
            found.append(Thread(thread_id, f"Patient/{_patient_id(head)}", started, preview, unread.get(thread_id, 0)))
        return sorted(found, key=lambda t: t.started, reverse=True)

    def _communication(self, door: Repository, record_id: str) -> Resource:
        """A Communication the caller may read; anything else told as an unknown id."""
        found = door.read(record_id)
        if found["resourceType"] != "Communication":
            raise UnknownRecord(record_id)
        return found

    def _head(self, door: Repository, thread_id: str) -> Resource:
        """The head of the thread a message belongs to (itself, if it is one)."""
        message = self._communication(door, thread_id)
        head = _part_of(message)
        return message if head is None else self._communication(door, head)


def _whose(door: Repository, head: Resource | None, patient: str | None) -> tuple[str, str, bool]:
    """Whose message it is: her Patient id, her wallet, and whether this node holds her Patient. A new thread
    names a Patient here; a reply is hers whose thread it is, wherever she is kept (a thread another node
    delivered here is filed under her wallet: her Patient is at her custodian)."""
    if head is None:
        if not patient:
            raise ValidationError("name the patient (a Patient id) of a new thread, or the thread to reply in")
        owner = door.stored(patient)
        if owner.resource_type != "Patient":
            raise UnknownRecord(patient)
        return patient, owner.patient_address, True
    patient_id = _patient_id(head)
    try:
        held = door.stored(patient_id).resource_type == "Patient"
    except (NotFound, Withheld):
        held = False
    return patient_id, door.stored(str(head["id"])).patient_address, held


def _part_of(message: Resource) -> str | None:
    """The id of the thread head a message is `partOf`, if it is a reply."""
    for reference in message.get("partOf", []):
        written = str(reference.get("reference", ""))
        if written.startswith("Communication/"):
            return written.removeprefix("Communication/")
    return None


def _patient_id(message: Resource) -> str:
    return str(message.get("subject", {}).get("reference", "")).removeprefix("Patient/")


def _wallets(given: Sequence[str]) -> list[str]:
    """Wallet addresses as given (0x…), checksummed, each once; `ValidationError` for one that is not."""
    bad = [w for w in given if not is_address(w)]
    if bad:
        raise ValidationError(f"not a wallet address: {bad[0][:60]!r}")
    return list(dict.fromkeys(str(to_checksum_address(w)) for w in given))


def _others(head: Resource | None, patient: str, chain_id: int) -> list[str]:
    """The practitioners of a thread (its head's sender and recipients named by wallet), but the patient."""
    if head is None:
        return []
    named = (referenced_wallet(r, chain_id) for r in [head.get("sender"), *head.get("recipient", [])])
    return [w for w in dict.fromkeys(named) if w is not None and w != patient]
