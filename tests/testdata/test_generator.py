"""The synthetic data generator: valid FHIR R4B, deterministic, internally consistent."""

from __future__ import annotations

import json
from collections import Counter

from fhir.resources.R4B import get_fhir_model_class

from careledger.testdata import RESOURCE_TYPES, collection_bundle, synthetic_patients


def test_every_resource_is_valid_fhir_r4b() -> None:
    for patient in synthetic_patients(8, seed=3):
        for resource in patient.resources:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = json.dumps([p.resources for p in synthetic_patients(5, seed=42)], sort_keys=True)
    again = json.dumps([p.resources for p in synthetic_patients(5, seed=42)], sort_keys=True)
    other = json.dumps([p.resources for p in synthetic_patients(5, seed=43)], sort_keys=True)
    assert first == again
    assert first != other


def test_covers_the_record_types_a_node_must_handle() -> None:
    kinds = Counter(r["resourceType"] for p in synthetic_patients(20, seed=1) for r in p.resources)
    for kind in RESOURCE_TYPES:
        assert kinds[kind] > 0, kind


def test_references_stay_within_the_patient() -> None:
    for patient in synthetic_patients(6, seed=9):
        ids = {f"{r['resourceType']}/{r['id']}" for r in patient.resources}
        for record in patient.records:
            owner = record.get("subject") or record.get("patient")
            assert owner == {"reference": f"Patient/{patient.id}"}
            for reference in _references(record):
                assert reference in ids, reference


def test_sensitive_conditions_carry_security_labels() -> None:
    labelled = {
        r["code"]["coding"][0]["code"]: r["meta"]["security"][0]["code"]
        for p in synthetic_patients(40, seed=5)
        for r in p.records
        if r["resourceType"] == "Condition" and "meta" in r
    }
    assert labelled
    assert set(labelled.values()) <= {"PSY", "ETH"}
    assert labelled.get("35489007", "PSY") == "PSY"


def test_bundle_holds_every_resource_once() -> None:
    patients = synthetic_patients(3, seed=2)
    bundle = collection_bundle(patients)
    get_fhir_model_class("Bundle").model_validate(bundle)
    ids = [entry["resource"]["id"] for entry in bundle["entry"]]
    assert len(ids) == len(set(ids)) == sum(len(p.resources) for p in patients)


def _references(value: object) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [ref for key, item in value.items() if key != "reference" for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []
