from __future__ import annotations

from typing import Any

import pytest

from careledger.errors import ValidationError
from careledger.insight.cds import GATHERED, SERVICES
from careledger.insight.cds._hooks import prefetched

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-01-01"}


def _condition(patient: str = "p1", **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"text": "x"},
    } | more


def _complete(**entries: Any) -> dict[str, Any]:
    return {
        "patient": PATIENT,
        "observations": None,
        "conditions": None,
        "medications": None,
        "allergies": None,
        "statements": None,
        "family": None,
    } | entries


def test_every_service_prefetches_every_type_gather_reads() -> None:
    for service in SERVICES:
        searched = {template.split("?")[0].split("/")[0] for template in service.prefetch.values()}
        assert searched == set(GATHERED)  # what fhirAuthorization's path reads: the same facts either way
        assert all("{{context.patientId}}" in template for template in service.prefetch.values())
        assert (
            service.prefetch["statements"]
            == "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication"
        )


def test_a_prefetched_medication_statement_is_read_and_must_be_hers() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationCodeableConcept": {"text": "apixaban"},
        "subject": {"reference": "Patient/p1"},
    }
    found = prefetched(_complete(statements=statement), "p1")
    assert found is not None
    assert [r["id"] for r in found[1]] == ["s1"]
    with pytest.raises(ValidationError, match="every MedicationStatement must be about Patient/p1"):
        prefetched(_complete(statements=statement | {"subject": {"reference": "Patient/p2"}}), "p1")


def test_a_complete_prefetch_is_the_patient_and_her_resources() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": _condition()},
            {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}},
        ],
    }
    found = prefetched(_complete(conditions=bundle), "p1")
    assert found is not None
    assert found[0]["id"] == "p1"
    assert [r["resourceType"] for r in found[1]] == ["Condition"]


def test_an_absolute_subject_reference_is_hers_too() -> None:
    found = prefetched(
        _complete(conditions=_condition(subject={"reference": "https://ehr.example.org/Patient/p1"})), "p1"
    )
    assert found is not None
    assert len(found[1]) == 1


@pytest.mark.parametrize("missing", ["patient", "observations", "statements", "family"])
def test_a_missing_key_or_a_null_patient_must_be_fetched(missing: str) -> None:
    partial = _complete()
    if missing == "patient":
        partial["patient"] = None
    else:
        del partial[missing]
    assert prefetched(partial, "p1") is None


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ({"patient": PATIENT | {"id": "p2"}}, "the patient in context"),
        ({"patient": {"resourceType": "Observation", "id": "p1"}}, "the patient in context"),
        ({"conditions": _condition("p2")}, "about Patient/p1"),
        ({"conditions": {"resourceType": "Observation", "id": "o1"}}, "holds only Condition"),
        ({"conditions": {"resourceType": "Bundle", "entry": "not a list"}}, "entry is a list"),
        ({"conditions": {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": ["Condition"]}}]}}, "only"),
        ({"conditions": _condition(clinicalStatus="active")}, "prefetch.conditions"),  # not a CodeableConcept
        ({"conditions": [_condition()]}, "holds only Condition"),
    ],
)
def test_a_prefetch_of_the_wrong_shape_is_refused(entries: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        prefetched(_complete(**entries), "p1")
