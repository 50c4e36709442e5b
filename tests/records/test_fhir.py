"""Parsing and validating FHIR input, and finding the patient a resource belongs to."""

from __future__ import annotations

import json

import pytest

from careledger.errors import InvalidResource, ValidationError
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


R4_ONLY = {"resourceType": "MedicinalProduct", "name": [{"productName": "Aspirin 100 mg"}]}


def test_a_type_r4b_dropped_is_validated_by_r4s_definition() -> None:
    assert parse_resource(R4_ONLY) == R4_ONLY
    with pytest.raises(InvalidResource, match=r"MedicinalProduct\.name\[0\]\.productName: is required"):
        parse_resource({"resourceType": "MedicinalProduct", "name": [{}]})


def test_a_type_r4b_added_is_unknown_at_the_top_and_inside() -> None:
    with pytest.raises(ValidationError, match="unknown resourceType 'Citation'"):
        parse_resource({"resourceType": "Citation", "status": "active"})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Citation"}}]}
    with pytest.raises(InvalidResource, match=r"Bundle\.entry\[0\]\.resource: unknown resourceType 'Citation'"):
        parse_resource(bundle)


def test_resources_inside_are_each_validated_by_their_own_types_rule() -> None:
    """R4B's Bundle model would take an R4B-shaped ActivityDefinition and refuse an R4 MedicinalProduct."""
    good = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": R4_ONLY}]}
    assert parse_resource(good) == good
    contained = {"resourceType": "Patient", "contained": [R4_ONLY], "gender": "female"}
    assert parse_resource(contained) == contained
    r4b_shaped = {"resourceType": "ActivityDefinition", "status": "active", "subjectCanonical": "http://x.org/g"}
    bad = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r4b_shaped}]}
    with pytest.raises(InvalidResource, match=r"Bundle\.entry\[0\]\.resource\.subjectCanonical: unknown element"):
        parse_resource(bad)
    with pytest.raises(InvalidResource, match=r"Patient\.gender: 'bogus' is not one of"):  # the container still checked
        parse_resource({**contained, "gender": "bogus"})


def test_an_extension_valued_by_a_type_r4b_dropped_is_checked_by_r4s_definition() -> None:
    """R4's `Extension.valueMeta`, which R4B's models refuse as an unknown element."""
    meta = {"url": "http://example.org/copied-from", "valueMeta": {"versionId": "3", "source": "urn:x"}}
    patient = {"resourceType": "Patient", "extension": [meta], "gender": "female"}
    assert parse_resource(patient) == patient
    assert parse_resource(json.dumps(patient)) == patient
    wrong = {**meta, "valueMeta": {"versionId": 3}}
    with pytest.raises(InvalidResource, match=r"Patient\.extension\[0\]\.valueMeta\.versionId: must be a string"):
        parse_resource({**patient, "extension": [wrong]})
    with pytest.raises(InvalidResource, match=r"Patient\.gender: 'bogus' is not one of"):  # the rest still checked
        parse_resource({**patient, "gender": "bogus"})


def test_extension_values_r4b_added_are_refused() -> None:
    patient = {"resourceType": "Patient", "extension": [{"url": "http://example.org/x", "valueRatioRange": {}}]}
    with pytest.raises(InvalidResource, match=r"Patient\.extension\[0\]\.valueRatioRange: not an element of FHIR R4"):
        parse_resource(patient)


def test_names_spelt_with_escapes_are_checked_all_the_same() -> None:
    escaped = b'{"resourceType": "Patient", "extension": [{"url": "http://x.org", "valueRatio\\u0052ange": {}}]}'
    with pytest.raises(InvalidResource, match="valueRatioRange: not an element of FHIR R4"):
        parse_resource(escaped)
    hidden = b'{"resourceType": "Patient", "contained": [{"resource\\u0054ype": "Citation", "status": "active"}]}'
    with pytest.raises(InvalidResource, match="unknown resourceType 'Citation'"):
        parse_resource(hidden)


@pytest.mark.parametrize(
    ("element", "value", "message"),
    [
        ("valueQuantity", {"value": "260", "unit": "mg/dL"}, 'valueQuantity.value: "260" is not a JSON number'),
        ("valueInteger", "5", 'valueInteger: "5" is not a JSON number'),
        ("valueInteger", True, "valueInteger: true is not a JSON number"),
        ("valueBoolean", "true", 'valueBoolean: "true" is not a JSON boolean'),
    ],
)
def test_a_number_or_boolean_in_quotes_is_not_r4_json(element: str, value: object, message: str) -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "cholesterol"}}
    with pytest.raises(InvalidResource, match=message):  # the models alone would take "260" for a decimal
        parse_resource(observation | {element: value})
    inside = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": observation | {element: value}}]}
    with pytest.raises(InvalidResource, match=message):
        parse_resource(inside)
    assert parse_resource(observation | {"valueQuantity": {"value": 260.5}})["valueQuantity"] == {"value": 260.5}
    assert parse_resource(observation | {"valueString": "5"})["valueString"] == "5"
