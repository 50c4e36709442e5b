"""Consent categories from resource types, category codes and security labels."""

from __future__ import annotations

import pytest

from careledger.records._categories import Category, categorise
from careledger.testdata import synthetic_patients


def _obs(code: str) -> dict[str, object]:
    system = "http://terminology.hl7.org/CodeSystem/observation-category"
    return {"resourceType": "Observation", "category": [{"coding": [{"system": system, "code": code}]}]}


@pytest.mark.parametrize(
    ("resource", "category"),
    [
        ({"resourceType": "Patient"}, Category.GENERAL),
        ({"resourceType": "Encounter"}, Category.GENERAL),
        ({"resourceType": "MedicationRequest"}, Category.MEDICATIONS),
        (_obs("laboratory"), Category.LABS),
        (_obs("vital-signs"), Category.VITALS),
        (_obs("imaging"), Category.IMAGING),
        (_obs("social-history"), Category.GENERAL),
        ({"resourceType": "DiagnosticReport"}, Category.LABS),
        ({"resourceType": "ImagingStudy"}, Category.IMAGING),
        ({"resourceType": "MolecularSequence"}, Category.GENOMICS),
        ({"resourceType": "ExplanationOfBenefit"}, Category.BILLING),
    ],
)
def test_base_categories(resource: dict[str, object], category: Category) -> None:
    assert categorise(resource) is category


@pytest.mark.parametrize(
    ("label", "category"),
    [("PSY", Category.MENTAL_HEALTH), ("ETH", Category.SUBSTANCE_USE), ("HIV", Category.SEXUAL_HEALTH),
     ("GDIS", Category.GENOMICS)],
)  # fmt: skip
def test_security_labels_override(label: str, category: Category) -> None:
    resource = {**_obs("laboratory"), "meta": {"security": [{"code": label}]}}
    assert categorise(resource) is category
    assert category.sensitive


def test_generated_depression_is_mental_health() -> None:
    conditions = [
        r
        for p in synthetic_patients(40, seed=5)
        for r in p.records
        if r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"] == "35489007"
    ]
    assert conditions
    assert {categorise(c) for c in conditions} == {Category.MENTAL_HEALTH}
    assert not Category.LABS.sensitive
