"""Parsing and validating FHIR input, and finding the patient a resource belongs to."""

from __future__ import annotations

import json

import pytest

from careledger.errors import ValidationError
from careledger.records._fhir import MAX_RESOURCE_BYTES, parse_resource, patient_reference
from careledger.testdata import synthetic_patients


def test_valid_resources_come_back_unchanged() -> None:
    for resource in synthetic_patients(2, seed=11)[0].resources:
        assert parse_resource(json.dumps(resource).encode()) == resource
        assert parse_resource(resource) == resource


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "a FHIR resource is a JSON object"),
        (b'{"status": "final"}', "resourceType is missing"),
        (b'{"resourceType": "Spaceship"}', "unknown resourceType 'Spaceship'"),
        (b'{"resourceType": "Patient", "gender": 5}', "Patient.gender: Input should be a valid string"),
        (b'{"resourceType": "Observation", "status": "final"}', "Observation.code: Field required"),
        (
            b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "component": [{"code": 1}]}',
            "Observation.component[0].code",
        ),
        (b'{"resourceType": "Patient", "shoeSize": 44}', "Patient.shoeSize: Extra inputs are not permitted"),
    ],
)
def test_invalid_input_names_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match="^.*" + message.replace("[", r"\[").replace("]", r"\]")):
        parse_resource(body)


def test_oversized_body_is_refused_before_parsing() -> None:
    note = "x" * (MAX_RESOURCE_BYTES + 1)
    with pytest.raises(ValidationError, match="the limit is 4,194,304"):
        parse_resource(json.dumps({"resourceType": "Basic", "code": {"text": note}}))


def test_patient_reference() -> None:
    patient = synthetic_patients(1, seed=4)[0]
    assert patient_reference(patient.patient) == patient.id
    for record in patient.records:
        assert patient_reference(record) == patient.id
    assert patient_reference({"resourceType": "Coverage", "beneficiary": {"reference": "Patient/p9"}}) == "p9"
    assert patient_reference({"resourceType": "Organization", "name": "Clinic"}) is None
    assert patient_reference({"resourceType": "Observation", "subject": {"reference": "Group/g1"}}) is None
