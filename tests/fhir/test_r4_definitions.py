"""What the node keeps of R4's definitions is computed from the installed npm package, and R4B's changes with it."""

from __future__ import annotations

import pytest

from careledger.fhir import R4_STRUCTURES_FILE, r4_validated_types, resource_types
from tests.fhir import r4_definitions
from tests.fhir.r4_definitions import R4, changed_types, dumped, r4_structures, structures

pytestmark = pytest.mark.skipif(not R4.is_dir(), reason="the npm packages are not installed (make setup)")


def test_the_copy_is_computed_from_the_installed_definitions() -> None:
    assert R4_STRUCTURES_FILE.read_text() == dumped(r4_structures()), "python -m tests.fhir.r4_definitions"


def test_the_types_r4b_changed_or_dropped_are_the_ones_validated_by_r4s_definitions() -> None:
    validated = r4_validated_types()
    assert validated <= set(resource_types())
    # dropped by R4B
    assert {"MedicinalProduct", "EffectEvidenceSynthesis", "SubstanceSpecification"} <= validated
    # redefined by R4B (Evidence), or given elements R4 lacks (ActivityDefinition.subjectCanonical)
    assert {"Evidence", "EvidenceVariable", "ActivityDefinition", "PlanDefinition"} <= validated
    # left as R4 had them: R4B's models validate these
    assert not {"Patient", "Observation", "Bundle", "MedicationKnowledge", "Consent", "Claim"} & validated
    assert "ActivityDefinition.subjectCanonical: not in R4" in changed_types()["ActivityDefinition"]


def test_the_one_change_every_type_shares_is_extensions_open_type() -> None:
    assert sorted(changed_types()[r4_definitions.SHARED_CHANGE]) == [
        "Extension.valueCodeableReference: not in R4",
        "Extension.valueMeta: not in R4B",
        "Extension.valueRatioRange: not in R4",
    ]
    assert r4_definitions.r4b_only_extension_values() == ["valueCodeableReference", "valueRatioRange"]
    assert r4_definitions.r4_only_extension_values() == ["valueMeta"]


def test_the_packages_own_additions_to_r4_are_left_out() -> None:
    def paths(name: str) -> set[str]:
        return {element["path"] for element in structures()[name]["snapshot"]["element"]}

    assert "SubscriptionStatus" not in structures()  # an R4B type the package ships with R4's
    assert not {"Meta.project", "Meta.account", "Meta.compartment"} & paths("Meta")
    assert not {"ResearchStudy.label", "ResearchStudy.studyDesign"} & paths("ResearchStudy")
    assert "Binary.url" not in paths("Binary")
    assert "EvidenceVariable.characteristic.definitionByTypeAndValue" not in paths("EvidenceVariable")  # R5's
    # and what the package took out of R4 is put back
    assert "EvidenceVariable.characteristic.definition[x]" in paths("EvidenceVariable")
    kept = paths("Meta") | paths("ResearchStudy") | paths("Binary")
    assert {"Meta.versionId", "ResearchStudy.arm.name", "Binary.data"} <= kept
