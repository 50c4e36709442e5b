"""The facts and the door's part of who may message whom (the decision itself is `_policy.may_message`).

A message is a FHIR `Communication` in the patient's compartment. Its practitioners are named by their wallet, as
a Patient names hers: a Reference typed `Practitioner` whose identifier is `did:pkh:eip155:<chain>:<address>`
(system `urn:ietf:rfc:3986`), since the policy judges addresses and a Practitioner record of this node need not
exist for a practitioner of another. Whether a patient has a visit with a practitioner is read from her
Appointments here: one that is not cancelled, with the practitioner among its participants (by wallet, or by a
`Practitioner/<id>` of this node whose record names the wallet).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address

from careledger.errors import NotFound
from careledger.fhir import URI
from careledger.records import Draft, RecordService, Resource

DID_PKH = "did:pkh:eip155:"
# Appointments that were never a visit.
_NO_VISIT = frozenset({"cancelled", "entered-in-error"})


def wallet_reference(kind: str, address: str, chain_id: int, display: str | None = None) -> dict[str, Any]:
    """A Reference to the `kind` (Practitioner, Patient, Organization) holding wallet `address` on `chain_id`."""
    reference: dict[str, Any] = {"type": kind, "identifier": {"system": URI, "value": f"{DID_PKH}{chain_id}:{address}"}}
    if display:
        reference["display"] = display
    return reference


def referenced_wallet(reference: object) -> str | None:
    """The wallet a Reference names by its `did:pkh` identifier (checksummed); None if it names none."""
    identifier = reference.get("identifier") if isinstance(reference, dict) else None
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if not isinstance(value, str) or not value.startswith(DID_PKH):
        return None
    address = value.rsplit(":", 1)[-1]
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


def visited(records: RecordService, patient: str, practitioner: str) -> bool:
    """Whether `patient` has an Appointment here (not cancelled) with `practitioner` among its participants:
    read by the node for the policy, as its other facts are, without an audit entry of its own (the write it
    decides is audited)."""
    for stored in records.list(resource_type="Appointment", patient_address=patient):
        appointment = records.open(stored)
        if appointment.get("status") in _NO_VISIT:
            continue
        actors = (p.get("actor") for p in appointment.get("participant", []) if isinstance(p, dict))
        if practitioner in _wallets(records, actors):
            return True
    return False


def _wallets(records: RecordService, actors: Iterator[object]) -> Iterator[str | None]:
    """The wallet of each actor: by its identifier, or by the did:pkh identifier of the Practitioner it names."""
    for actor in actors:
        wallet = referenced_wallet(actor)
        written = actor.get("reference") if isinstance(actor, Mapping) else None
        if wallet is None and isinstance(written, str) and written.startswith("Practitioner/"):
            wallet = _practitioner_wallet(records, written.removeprefix("Practitioner/"))
        yield wallet


def _practitioner_wallet(records: RecordService, record_id: str) -> str | None:
    try:
        practitioner: Resource = records.read(record_id)
    except NotFound:
        return None
    if practitioner["resourceType"] != "Practitioner":
        return None
    found = (referenced_wallet({"identifier": i}) for i in practitioner.get("identifier", []))
    return next((wallet for wallet in found if wallet is not None), None)
