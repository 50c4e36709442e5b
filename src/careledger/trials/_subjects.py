"""A participant as her site's records hold her: her ResearchSubject of each trial (her participant id and its
salt, her stratum, what she is asked to sign), and her Patient and record, each read through the door it is given.

Nothing but her ResearchSubject ties her to a trial here: no table does. A site finds its participants of a trial
by searching ResearchSubjects by study, through the staff member's door (audited per patient).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from careledger.access import Repository
from careledger.errors import NotFound, ValidationError
from careledger.records import Resource, SearchQuery, search_query
from careledger.trials._econsent import PARTICIPANT_SYSTEM, SALT_SYSTEM, STRATUM_EXTENSION

REQUEST_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-signature-request"
WITHDRAWAL_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-withdrawal"
CANDIDATE, ON_STUDY, WITHDRAWN = "candidate", "on-study", "withdrawn"
# What eligibility and the stratum are read from.
_RECORD_TYPES = ("Patient", "Condition", "Observation", "MedicationStatement", "MedicationRequest")
_STUDY_PREFIX = "ResearchStudy/trial-"


def study_reference(trial_id: int) -> str:
    """How a site's records name a trial (a ResearchSubject's study, a Consent's, an AdverseEvent's)."""
    return f"{_STUDY_PREFIX}{trial_id}"


def trial_of(reference: str) -> int | None:
    """The trial a study reference names; None for any other reference."""
    tail = reference.removeprefix(_STUDY_PREFIX)
    return int(tail) if reference.startswith(_STUDY_PREFIX) and tail.isdigit() else None


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

    def carried(self) -> list[dict[str, Any]]:
        """What a new version of her ResearchSubject keeps of this one: her signed withdrawal, if any."""
        return [e for e in self._extensions() if e.get("url") == WITHDRAWAL_EXTENSION]

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
