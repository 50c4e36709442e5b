"""A participant as her site's records hold her: her ResearchSubject of each trial (her participant id and its
salt, her stratum, what she is asked to sign), and her Patient and record, each read through the door it is given.

Nothing but her ResearchSubject ties her to a trial here: no table does. A site finds its participants of a trial
by searching ResearchSubjects by study, through the staff member's door (audited per patient).

What she signed is written ahead into her ResearchSubject (`PENDING_EXTENSION`: the typed data, her signature, the
staff member who witnessed it in person) before the chain is asked; once her records say what the chain did, the
pending entries go. A crash in between leaves them there: the next attempt finds the one the chain took (its
keccak is the chain's consent digest) and writes her records from it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from careledger.access import Repository
from careledger.crypto import checksum_address, keccak
from careledger.errors import NotFound, ValidationError
from careledger.fhir import fhir_instant, systems
from careledger.records import Resource, SearchQuery, search_query
from careledger.trials._econsent import PARTICIPANT_SYSTEM, SALT_SYSTEM, STRATUM_EXTENSION

if TYPE_CHECKING:
    from careledger.chain import TrialParticipant

REQUEST_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-signature-request"
WITHDRAWAL_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-withdrawal"
PENDING_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-signed-pending"
CANDIDATE, ON_STUDY, WITHDRAWN = "candidate", "on-study", "withdrawn"
# What eligibility and the stratum are read from.
_RECORD_TYPES = ("Patient", "Condition", "Observation", "MedicationStatement", "MedicationRequest")
_STUDY_PREFIX = "ResearchStudy/trial-"
ZERO_ADDRESS = "0x" + "00" * 20  # no payee named: her stipends are held in the escrow
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def study_reference(trial_id: int) -> str:
    """How a site's records name a trial (a ResearchSubject's study, a Consent's, an AdverseEvent's)."""
    return f"{_STUDY_PREFIX}{trial_id}"


def trial_of(reference: str) -> int | None:
    """The trial a study reference names; None for any other reference."""
    tail = reference.removeprefix(_STUDY_PREFIX)
    return int(tail) if reference.startswith(_STUDY_PREFIX) and tail.isdigit() else None


@dataclass(frozen=True, slots=True)
class Signed:
    """What she signed (consent or withdrawal typed data), her signature, and who witnessed it in person (a staff
    member's address: the node signed with her custodial key at the site; None: she signed herself)."""

    typed: dict[str, Any]
    signature: bytes
    witness: str | None = None

    @property
    def kind(self) -> str:
        """`TrialConsent` or `TrialWithdrawal`."""
        return str(self.typed.get("primaryType"))

    @property
    def digest(self) -> bytes:
        """keccak256 of the signature: what the chain keeps of a consent."""
        return keccak(self.signature)

    def to_json(self) -> dict[str, Any]:
        """As kept in her ResearchSubject (and in a withdrawal's proof)."""
        return {"typed": self.typed, "signature": "0x" + self.signature.hex(), "witness": self.witness}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Signed:
        """Back from `to_json`."""
        witness = value.get("witness")
        signature = bytes.fromhex(str(value["signature"]).removeprefix("0x"))
        return cls(dict(value["typed"]), signature, None if witness is None else str(witness))


@dataclass(frozen=True, slots=True)
class Subject:
    """Her ResearchSubject of one trial at this site: its record, her participant id and salt, what she is asked to
    sign now (None: nothing)."""

    record_id: str
    resource: Resource
    participant: bytes
    salt: bytes
    patient_id: str
    request: dict[str, Any] | None

    @property
    def status(self) -> str:
        """Candidate, on-study or withdrawn."""
        return str(self.resource.get("status"))

    @property
    def participant_hex(self) -> str:
        """Her participant id as 0x-hex."""
        return "0x" + self.participant.hex()

    @property
    def stratum(self) -> int:
        """The stratum her ResearchSubject records."""
        found = [e.get("valueUnsignedInt") for e in self._extensions() if e.get("url") == STRATUM_EXTENSION]
        return int(found[0]) if found and isinstance(found[0], int) else 0

    @property
    def pending(self) -> list[Signed]:
        """What she signed that was sent (or about to be sent) to the chain and is not in her records yet."""
        return [
            Signed.from_json(json.loads(e["valueString"]))
            for e in self._extensions()
            if e.get("url") == PENDING_EXTENSION
        ]

    def waiting(self, kind: str) -> dict[str, Any] | None:
        """The typed data of `kind` (`TrialConsent`, `TrialWithdrawal`) kept for her to sign; None if none is."""
        return self.request if self.request is not None and self.request.get("primaryType") == kind else None

    def taken_by(self, on_chain: TrialParticipant) -> Signed | None:
        """The consent kept pending that the chain took (its version and digest) and her records do not say yet:
        a crash between the two. None if there is none."""
        for signed in self.pending:
            version = int(signed.typed["message"].get("version", 0)) if signed.kind == "TrialConsent" else 0
            if version == on_chain.consented_version and signed.digest == on_chain.consent_digest:
                return signed
        return None

    def carried(self, *, pending: bool = True) -> list[dict[str, Any]]:
        """What a new version of her ResearchSubject keeps of this one: her signed withdrawal, if any, and what
        she signed pending the chain (`pending`: unless her records now say what the chain did)."""
        kept = (WITHDRAWAL_EXTENSION, PENDING_EXTENSION) if pending else (WITHDRAWAL_EXTENSION,)
        return [e for e in self._extensions() if e.get("url") in kept]

    def _extensions(self) -> list[dict[str, Any]]:
        found = self.resource.get("extension", [])
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


@dataclass(frozen=True, slots=True)
class Her:
    """A patient as a door shows her: her Patient record id, address, Patient resource and record."""

    patient_id: str
    address: str
    patient: Resource
    records: list[Resource]


def payee_address(text: str) -> str:
    """A payee as named (an address: 0x and 40 hex digits, not zero), checksummed; `ValidationError` otherwise."""
    if not isinstance(text, str) or not _ADDRESS.fullmatch(text.strip()):
        raise ValidationError("a payee is an address: 0x and 40 hex digits")
    raw = bytes.fromhex(text.strip()[2:])
    if raw == bytes(20):
        raise ValidationError("a payee is an address that can be paid, not the zero address")
    return checksum_address(raw)


def witnessed(target: str, witness: str, recorded: datetime) -> Resource:
    """The Provenance of a consent taken in person: `target` (her Consent) signed by this node with her custodial
    key at the site, witnessed by `witness` (the staff member, a did:pkh), at `recorded`."""
    return {
        "resourceType": "Provenance",
        "target": [{"reference": target}],
        "recorded": fhir_instant(recorded, precision="seconds"),
        "reason": [{"text": "consent taken in person, signed with her custodial key"}],
        "agent": [
            {
                "type": {"coding": [{"system": systems.PARTICIPATION_TYPE, "code": "WIT", "display": "witness"}]},
                "who": systems.account_reference(witness),
            }
        ],
    }


def her_record(door: Repository, patient_id: str) -> Her:
    """Patient `patient_id` and her record as `door` shows them (`NotFound` if it shows no such Patient)."""
    found = door.search(SearchQuery(patient_id=patient_id, resource_types=_RECORD_TYPES))
    patient = next((r for r in found if r["resourceType"] == "Patient" and r.get("id") == patient_id), None)
    if patient is None:
        raise NotFound(f"no Patient/{patient_id[:64]} this caller may see")
    address = door.stored(patient_id).patient_address
    return Her(patient_id, address, patient, [r for r in found if r is not patient])


def subject_of(door: Repository, trial_id: int, patient_id: str) -> Subject | None:
    """Her ResearchSubject of the trial here, as `door` shows it; None if she has none."""
    query = SearchQuery(resource_type="ResearchSubject", patient_id=patient_id)
    found = [r for r in door.search(query) if _study(r) == study_reference(trial_id)]
    return subject_from(found[0], patient_id) if found else None


def subjects_of(door: Repository, trial_id: int) -> list[Subject]:
    """Every ResearchSubject of the trial here `door` shows, candidates too."""
    query, _ = search_query("ResearchSubject", [("study", study_reference(trial_id))], patient_address=None)
    return [subject_from(r, _patient_id(r)) for r in door.search(query) if _study(r) == study_reference(trial_id)]


def subject_from(resource: Resource, patient_id: str) -> Subject:
    """Her Subject from her ResearchSubject resource (`ValidationError` if it holds no participant id and salt)."""
    identifiers = {i.get("system"): str(i.get("value", "")) for i in resource.get("identifier", [])}
    try:
        participant = bytes.fromhex(identifiers[PARTICIPANT_SYSTEM].removeprefix("0x"))
        salt = bytes.fromhex(identifiers[SALT_SYSTEM].removeprefix("0x"))
    except (KeyError, ValueError):
        raise ValidationError(f"ResearchSubject/{resource.get('id')} holds no participant id and salt") from None
    request = next(
        (json.loads(e["valueString"]) for e in resource.get("extension", []) if e.get("url") == REQUEST_EXTENSION),
        None,
    )
    return Subject(str(resource["id"]), resource, participant, salt, patient_id, request)


def _study(resource: Resource) -> str | None:
    study = resource.get("study")
    return study.get("reference") if isinstance(study, dict) else None


def _patient_id(resource: Resource) -> str:
    individual = resource.get("individual")
    reference = individual.get("reference", "") if isinstance(individual, dict) else ""
    return str(reference).removeprefix("Patient/")
