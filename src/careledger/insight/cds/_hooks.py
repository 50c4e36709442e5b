"""The CDS services this node offers (discovery), their prefetch templates, and the check of what a client prefetched.

A prefetch entry is trusted only as far as its shape: each key the service asked for holds the one resource (the
Patient) or a Bundle of resources of the types its template searches, every one valid FHIR R4 (as a write to the
node must be) and about the patient in context, or null (the client has none). Anything else is the client's
mistake, told as a 400 (`ValidationError`), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from careledger.errors import InvalidResource, ValidationError
from careledger.insight._gather import GATHERED
from careledger.records import parse_resource

Resource = dict[str, Any]

# The prefetch key of each type `gather` reads (GATHERED, the one list): its templates are derived from it, so a
# client that prefetches exactly what discovery names gives the same facts as the fhirAuthorization path.
_KEYS = {
    "Patient": "patient",
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationStatement": "statements",
    "MedicationRequest": "medications",
    "AllergyIntolerance": "allergies",
    "FamilyMemberHistory": "family",
}
# The types whose medicationReference `gather` resolves: their templates `_include` the Medication too.
_NAMING_MEDICATION = frozenset({"MedicationStatement", "MedicationRequest"})


def _template(kind: str) -> tuple[str, frozenset[str]]:
    """The CDS Hooks 2.0 prefetch template searching `kind` of the patient, and the types its Bundle may hold."""
    if kind == "Patient":
        return "Patient/{{context.patientId}}", frozenset({"Patient"})
    query = f"{kind}?patient={{{{context.patientId}}}}"
    if kind in _NAMING_MEDICATION:
        return f"{query}&_include={kind}:medication", frozenset({kind, "Medication"})
    return query, frozenset({kind})


# Each key: the template, and the types a Bundle under it may hold (a KeyError here: GATHERED grew a type).
_TEMPLATES: dict[str, tuple[str, frozenset[str]]] = {_KEYS[kind]: _template(kind) for kind in GATHERED}
# The element of each type that names its patient.
_SUBJECT = dict.fromkeys(("Observation", "Condition", "MedicationStatement", "MedicationRequest"), "subject")
MAX_PREFETCHED = 5000  # resources under one key: more than a chart's worth is not a prefetch


@dataclass(frozen=True, slots=True)
class HookService:
    """One CDS service: its `id` (in its URL), the `hook` it answers, and what it says of itself."""

    id: str
    hook: str
    title: str
    description: str

    @property
    def prefetch(self) -> dict[str, str]:
        """Its prefetch templates, by key."""
        return {key: template for key, (template, _) in _TEMPLATES.items()}

    def discovery(self) -> dict[str, Any]:
        """Its entry in `GET /cds-services`."""
        return {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
            "prefetch": self.prefetch,
        }


SERVICES: tuple[HookService, ...] = (
    HookService(
        "careledger-patient-view",
        "patient-view",
        "CareLedger risk scores",
        "Validated risk scores (PCE, PREVENT, CHA2DS2-VASc, HAS-BLED, NEWS2, qSOFA, CKD-EPI 2021, FINDRISC) that "
        "cross their published thresholds, each with its inputs and its equation's version.",
    ),
    HookService(
        "careledger-order-select",
        "order-select",
        "CareLedger medication order checks",
        "The selected MedicationRequests against the patient's allergies, her active medications (duplicate "
        "therapy by ingredient and class) and her latest eGFR (renal dosing).",
    ),
    HookService(
        "careledger-order-sign",
        "order-sign",
        "CareLedger medication order checks at signing",
        "The draft MedicationRequests about to be signed, checked as at selection.",
    ),
)


def service_named(service_id: str) -> HookService | None:
    """The service with this id, if this node offers one."""
    return next((s for s in SERVICES if s.id == service_id), None)


def prefetched(prefetch: Mapping[str, Any], patient_id: str) -> tuple[Resource, list[Resource]] | None:
    """The Patient and the resources a client prefetched, checked; None when a key is missing (or the Patient is
    null), so the data must be fetched; `ValidationError` for an entry of the wrong shape, type or patient."""
    if any(key not in prefetch for key in _TEMPLATES) or prefetch.get("patient") is None:
        return None
    patient = prefetch["patient"]
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient" or patient.get("id") != patient_id:
        raise ValidationError(f"prefetch.patient must be Patient/{patient_id[:64]}, the patient in context")
    resources: list[Resource] = []
    for key, (_, types) in _TEMPLATES.items():
        if key != "patient" and prefetch[key] is not None:
            resources.extend(_entries(key, prefetch[key], types, patient_id))
    return valid("prefetch.patient", patient), resources


def _entries(key: str, value: object, types: frozenset[str], patient_id: str) -> list[Resource]:
    """The resources under one prefetch key (a resource or a Bundle of them), each of `types` and hers."""
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        entries = value.get("entry", [])
        if not isinstance(entries, list) or len(entries) > MAX_PREFETCHED:
            raise ValidationError(f"prefetch.{key}: entry is a list of at most {MAX_PREFETCHED} entries")
        found = [e.get("resource") if isinstance(e, dict) else None for e in entries]
    else:
        found = [value]
    resources: list[Resource] = []
    for resource in found:
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        kind = kind if isinstance(kind, str) else None  # a list or an object names no type
        if kind == "OperationOutcome":  # a search's warnings (search.mode outcome): nothing of hers
            continue
        if not isinstance(resource, dict) or kind not in types:
            raise ValidationError(f"prefetch.{key} holds only {' and '.join(sorted(types))} resources")
        if kind != "Medication" and not about(resource, patient_id):
            raise ValidationError(f"prefetch.{key}: every {kind} must be about Patient/{patient_id[:64]}")
        resources.append(valid(f"prefetch.{key}", resource))
    return resources


def about(resource: Resource, patient_id: str) -> bool:
    """Whether `resource` names Patient `patient_id` as its subject (relative or absolute reference)."""
    named = resource.get(_SUBJECT.get(str(resource.get("resourceType")), "patient"))
    reference = named.get("reference") if isinstance(named, dict) else None
    wanted = f"Patient/{patient_id}"
    return isinstance(reference, str) and (reference == wanted or reference.endswith("/" + wanted))


def valid(where: str, resource: Resource) -> Resource:
    """`resource` if it is valid FHIR R4; else `ValidationError` (400) saying where in the request it is."""
    try:
        return parse_resource(resource)
    except InvalidResource as exc:
        raise ValidationError(f"{where}: {exc}") from None
