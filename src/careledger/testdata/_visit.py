"""One hospital visit as an EHR would send it: a FHIR transaction Bundle, for the demo and tests.

The Patient names its wallet (`did:pkh`), so the node knows whose records these are; the
entries refer to each other by `urn:uuid:` full URLs, which the server resolves. The visit
holds a basic metabolic panel (four LOINC results and their report, category `labs`) and a
psychiatric progress note labelled PSY (category `mental-health`). No real person.
"""

from __future__ import annotations

import base64
import uuid

from careledger.fhir import URI
from careledger.testdata import _codes as codes
from careledger.testdata._generator import Resource

_VISIT_START = "2026-06-01T09:00:00Z"
_RESULTS_ISSUED = "2026-06-01T13:00:00Z"
_NOTE = (
    "Follow-up for depressive episode. Mood improved on current treatment; sleep fair. "
    "No safety concerns. Continue plan; review in four weeks.\n"
)
_PANEL = ("51990-0", "Basic metabolic panel - Blood")
_RESULTS = (
    (codes.LAB_PANELS[_PANEL][0], 112),
    (codes.LAB_PANELS[_PANEL][1], 0.92),
    (codes.LAB_PANELS[_PANEL][2], 139),
    (codes.LAB_PANELS[_PANEL][3], 4.3),
)


def hospital_visit(patient_address: str, chain_id: int) -> Resource:
    """A transaction Bundle: Patient, Encounter, four lab results, their report, a mental-health note."""
    urls = {name: f"urn:uuid:{uuid.uuid4()}" for name in ("patient", "encounter", "report", "note")}
    subject = {"reference": urls["patient"]}
    encounter = {"reference": urls["encounter"]}
    results = [(f"urn:uuid:{uuid.uuid4()}", _result(subject, encounter, m, v)) for m, v in _RESULTS]
    entries = [
        (urls["patient"], _patient(patient_address, chain_id)),
        (urls["encounter"], _encounter(subject)),
        *results,
        (urls["report"], _report(subject, encounter, [url for url, _ in results])),
        (urls["note"], _mental_health_note(subject, encounter)),
    ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
            for url, resource in entries
        ],
    }


def _patient(address: str, chain_id: int) -> Resource:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": URI, "value": f"did:pkh:eip155:{chain_id}:{address}"},
            {"system": codes.MRN_SYSTEM, "value": "MRN-DEMO-0001"},
        ],
        "name": [{"family": "Example", "given": ["Alice"]}],
        "gender": "female",
        "birthDate": "1984-03-12",
    }


def _encounter(subject: Resource) -> Resource:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": codes.ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"coding": [{"system": codes.SNOMED, "code": "185349003", "display": "Encounter for check up"}]}],
        "subject": subject,
        "period": {"start": _VISIT_START, "end": "2026-06-01T09:40:00Z"},
    }


def _result(subject: Resource, encounter: Resource, measure: codes.Measure, value: float) -> Resource:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": codes.LOINC, "code": measure.code, "display": measure.display}]},
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": _VISIT_START,
        "valueQuantity": {"value": value, "unit": measure.unit, "system": codes.UCUM, "code": measure.unit},
    }


def _report(subject: Resource, encounter: Resource, results: list[str]) -> Resource:
    code, display = _PANEL
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": codes.DIAGNOSTIC_SERVICE, "code": "LAB", "display": "Laboratory"}]}],
        "code": {"coding": [{"system": codes.LOINC, "code": code, "display": display}]},
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": _VISIT_START,
        "issued": _RESULTS_ISSUED,
        "result": [{"reference": url} for url in results],
    }


def _mental_health_note(subject: Resource, encounter: Resource) -> Resource:
    return {
        "resourceType": "DocumentReference",
        "meta": {"security": [{"system": codes.ACT_CODE, "code": "PSY", "display": "psychiatry disorder information"}]},
        "status": "current",
        "type": {"coding": [{"system": codes.LOINC, "code": "11506-3", "display": "Progress note"}]},
        "subject": subject,
        "date": "2026-06-01T10:00:00Z",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(_NOTE.encode()).decode(),
                    "title": "Psychiatry progress note",
                }
            }
        ],
        "context": {"encounter": [encounter]},
    }
