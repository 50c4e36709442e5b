"""Who a visit is between, from its Appointment: the patient (her Patient record) and the practitioner (her wallet).

A practitioner is named by her wallet, as the policy judges addresses: a Reference whose identifier is her
`did:pkh` (system `urn:ietf:rfc:3986`), or a `Practitioner/<id>` of this node whose record carries that
identifier (read through the caller's door: a Practitioner is the node's own, readable by every signed-in actor).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from careledger.access import Repository, identified_wallet, practitioner_wallet
from careledger.errors import ValidationError
from careledger.fhir import URI
from careledger.records import Resource


@dataclass(frozen=True, slots=True)
class Participant:
    """A practitioner of a visit: her wallet, and the Reference the visit's records name her by."""

    address: str
    reference: dict[str, Any]


def practitioner_of(repo: Repository, resource: Resource) -> Participant:
    """The practitioner an Appointment's participants (or a Schedule's actors) name; `ValidationError` if none is
    named by a wallet."""
    references = [p.get("actor") for p in resource.get("participant", []) if isinstance(p, dict)]
    references += list(resource.get("actor", []))
    for participant in _practitioners(repo, references):
        return participant
    raise ValidationError(
        f"{resource.get('resourceType')}/{resource.get('id')} names no practitioner by a wallet (a Practitioner"
        f" record of this node names hers by an identifier of system {URI}: did:pkh:eip155:<chain>:<address>)"
    )


def performers(repo: Repository, encounter: Resource) -> list[Participant]:
    """The practitioners an Encounter names (by a wallet)."""
    return list(_practitioners(repo, [p.get("individual") for p in encounter.get("participant", [])]))


def subject_of(appointment: Resource) -> dict[str, Any]:
    """The Patient the Appointment is for, as its Reference; `ValidationError` if none."""
    for participant in appointment.get("participant", []):
        actor = participant.get("actor", {}) if isinstance(participant, dict) else {}
        if str(actor.get("reference", "")).startswith("Patient/"):
            return {"reference": actor["reference"]}
    raise ValidationError(f"Appointment/{appointment.get('id')} names no Patient")


def _practitioners(repo: Repository, references: list[Any]) -> Iterator[Participant]:
    for actor in references:
        if not isinstance(actor, dict):
            continue
        written = str(actor.get("reference", ""))
        if actor.get("type") != "Practitioner" and not written.startswith("Practitioner/"):
            continue
        address = identified_wallet(actor.get("identifier"))
        if address is None and written.startswith("Practitioner/"):
            address = practitioner_wallet(repo.read, written.removeprefix("Practitioner/"))
        if address is not None:
            yield Participant(address, actor)
