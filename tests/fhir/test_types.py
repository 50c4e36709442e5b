"""The resource types a node serves are exactly FHIR R4's, as R4's own StructureDefinitions list them."""

from __future__ import annotations

import json

import pytest

from careledger.fhir import FHIR_VERSION, RESOURCE_TYPES_FILE, is_resource_type, resource_types
from tests.fhir.r4_definitions import R4, dumped, resource_types_file


@pytest.mark.skipif(not R4.is_dir(), reason="the npm packages are not installed (make setup)")
def test_the_list_is_r4s_types_from_the_installed_definitions() -> None:
    assert RESOURCE_TYPES_FILE.read_text() == dumped(resource_types_file()), "python -m tests.fhir.r4_definitions"


def test_the_list_is_r4_4_0_1() -> None:
    listed = json.loads(RESOURCE_TYPES_FILE.read_text())
    assert listed["fhirVersion"] == FHIR_VERSION == "4.0.1"
    assert len(resource_types()) == 146
    assert list(resource_types()) == sorted(resource_types())


def test_types_are_told_from_data_types_strangers_and_other_releases() -> None:
    for name in ("Patient", "MedicationKnowledge", "MedicinalProduct", "EffectEvidenceSynthesis", "Bundle"):
        assert is_resource_type(name), name
    # R4B's additions, R5's, the package's R4B backport, data types and strangers
    for name in ("Citation", "SubscriptionTopic", "Ingredient", "SubscriptionStatus", "patient", "HumanName", "Foo"):
        assert not is_resource_type(name), name
    for name in ("$export", ""):
        assert not is_resource_type(name), name
