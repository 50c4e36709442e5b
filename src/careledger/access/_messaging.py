"""The facts and the door's part of who may message whom (the decision itself is `_policy.may_message`).

A message is a FHIR `Communication` in the patient's compartment. Its practitioners are named by their wallet, as
a Patient names hers: a Reference typed `Practitioner` whose identifier is `did:pkh:eip155:<chain>:<address>`
(system `urn:ietf:rfc:3986`), since the policy judges addresses and a Practitioner record of this node need not
exist for a practitioner of another. Whether a patient has a visit with a practitioner is read from her
Appointments here (`visited`): one booked through the scheduling in his Schedule, or written by the node or its
care team naming him (by wallet, or by a `Practitioner/<id>` of this node whose record names the wallet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address
from sqlalchemy import select

from careledger.errors import NotFound
from careledger.fhir import URI
from careledger.records import Draft, RecordService, Resource
from careledger.store import Database, SlotHold

DID_PKH = "did:pkh:eip155:"
# An Appointment's statuses of a visit booked, under way or done (not one proposed, pending, or called off).
_VISITS = frozenset({"booked", "arrived", "checked-in", "fulfilled"})


def wallet_reference(kind: str, address: str, chain_id: int, display: str | None = None) -> dict[str, Any]:
    """A Reference to the `kind` (Practitioner, Patient, Organization) holding wallet `address` on `chain_id`."""
    reference: dict[str, Any] = {"type": kind, "identifier": {"system": URI, "value": f"{DID_PKH}{chain_id}:{address}"}}
    if display:
        reference["display"] = display
    return reference


def referenced_wallet(reference: object, chain_id: int | None = None) -> str | None:
    """The wallet a Reference names by its `did:pkh` identifier (`identified_wallet`); None if it names none."""
    return identified_wallet(reference.get("identifier") if isinstance(reference, dict) else None, chain_id)


def identified_wallet(identifier: object, chain_id: int | None = None) -> str | None:
    """The wallet a `did:pkh` identifier names (system `urn:ietf:rfc:3986`; checksummed); None for any other
    identifier, and for one on another chain than `chain_id` (an address there is no one of this deployment's:
    what crosses nodes is judged with it; None: any chain, as the door judges the addresses only)."""
    if not isinstance(identifier, dict) or identifier.get("system") != URI:
        return None
    value = identifier.get("value")
    if not isinstance(value, str) or not value.startswith(DID_PKH):
        return None
    chain, _, address = value.removeprefix(DID_PKH).partition(":")
    if not chain.isdecimal() or (chain_id is not None and int(chain) != chain_id):
        return None
    return str(to_checksum_address(address)) if is_address(address) else None


@dataclass(frozen=True, slots=True)
class Addressed:
    """Who a Communication says it is from and to, as the door judges it (`_policy.may_message`)."""

    sender: dict[str, Any] | None  # the Reference as written (None: the message names no sender)
    recipients: tuple[
        str | None, ...
    ]  # each recipient's wallet (None: one not named by a wallet); the patient left out

    def sender_of(self, patient: str) -> str | None:
        """The wallet the sender names (`patient`'s, for a Patient reference: the one the message is filed
        under); "" if the message names no sender; None if it names one by no wallet."""
        if self.sender is None:
            return ""
        return patient if _patient(self.sender) else referenced_wallet(self.sender)


def recipients_of(drafts: Sequence[Draft]) -> dict[str, Addressed]:
    """Per Communication among `drafts` (by record id), its sender and the wallet of each recipient it names (None
    for one not named by a wallet: a patient's message to it is refused, as one to a stranger is). A Patient
    reference is left out of the recipients: the patient herself, whose compartment the message is filed in."""
    found = {}
    for draft in drafts:
        if draft.data["resourceType"] != "Communication":
            continue
        sender = draft.data.get("sender")
        recipients = (r for r in draft.data.get("recipient", []) if not _patient(r))
        found[draft.record_id] = Addressed(
            sender if isinstance(sender, dict) else None, tuple(referenced_wallet(r) for r in recipients)
        )
    return found


def _patient(reference: object) -> bool:
    if not isinstance(reference, dict):
        return False
    written = reference.get("reference")
    return reference.get("type") == "Patient" or (isinstance(written, str) and written.startswith("Patient/"))


def visited(
    records: RecordService, db: Database, staff: Callable[[str], bool], patient: str, practitioner: str
) -> bool:
    """Whether `patient` has a visit here with `practitioner`: an Appointment booked (or under way, or done) that
    either holds a slot for good in the practitioner's Schedule (the scheduling's booking: `slot_holds`), or whose
    latest version the node or its care team (`staff`) wrote naming him. A proposal, a hold left to lapse, or an
    Appointment she wrote herself is none. Read by the node for the policy, as its other facts are, without an
    audit entry of its own (the write it decides is audited)."""
    appointments = {s.record_id: s for s in records.list(resource_type="Appointment", patient_address=patient)}
    if not appointments:
        return False
    held: dict[str, list[str]] = {}
    with db.session() as session:
        rows = session.execute(
            select(SlotHold.appointment_id, SlotHold.slot_id).where(
                SlotHold.appointment_id.in_(appointments), SlotHold.expires_at.is_(None)
            )
        )
        for appointment_id, slot_id in rows:
            held.setdefault(appointment_id, []).append(slot_id)
    for record_id, stored in appointments.items():
        by_staff = stored.author is not None and stored.author != patient and staff(stored.author)
        if record_id not in held and not by_staff:
            continue
        appointment = records.open(stored)
        if appointment.get("status") not in _VISITS:
            continue
        slots = (_scheduled(records, slot_id) for slot_id in held.get(record_id, ()))
        if any(practitioner in wallets for wallets in slots):
            return True
        actors = (p.get("actor") for p in appointment.get("participant", []) if isinstance(p, dict))
        if by_staff and practitioner in _wallets(records, actors):
            return True
    return False


def _scheduled(records: RecordService, slot_id: str) -> set[str | None]:
    """The wallets of the actors of the Schedule the Slot `slot_id` is in (none if either is gone)."""
    try:
        slot = records.read(slot_id)
        written = str(slot.get("schedule", {}).get("reference", ""))
        schedule = records.read(written.removeprefix("Schedule/")) if written.startswith("Schedule/") else {}
    except NotFound:
        return set()
    return set(_wallets(records, iter(schedule.get("actor", []))))


def _wallets(records: RecordService, actors: Iterator[object]) -> Iterator[str | None]:
    """The wallet of each actor: by its identifier, or by the did:pkh identifier of the Practitioner it names."""
    for actor in actors:
        wallet = referenced_wallet(actor)
        written = actor.get("reference") if isinstance(actor, Mapping) else None
        if wallet is None and isinstance(written, str) and written.startswith("Practitioner/"):
            wallet = practitioner_wallet(records.read, written.removeprefix("Practitioner/"))
        yield wallet


def practitioner_wallet(read: Callable[[str], Resource], record_id: str) -> str | None:
    """The wallet the Practitioner `record_id` (read with `read`) names by its did:pkh identifier; None if it is
    gone, no Practitioner, or names none."""
    try:
        practitioner = read(record_id)
    except NotFound:
        return None
    if practitioner["resourceType"] != "Practitioner":
        return None
    found = (identified_wallet(i) for i in practitioner.get("identifier", []))
    return next((wallet for wallet in found if wallet is not None), None)
