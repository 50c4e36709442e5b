"""What an allergy code reaches: SNOMED classes and substances, and drugs through their ingredients and classes."""

from __future__ import annotations

import pytest

from careledger.insight import RXNORM, SNOMED, Code
from careledger.insight.knowledge import ATC, allergen, classes_of


@pytest.mark.parametrize(("concept", "cls"), [("764146007", "J01C"), ("91936005", "J01C"), ("764147003", "J01D")])
def test_snomed_class_concepts_reach_their_class(concept: str, cls: str) -> None:
    found = allergen(Code(SNOMED, concept))
    assert found.classes == {cls}
    assert found.ingredients == frozenset()


def test_a_snomed_substance_reaches_its_ingredient_and_class() -> None:
    found = allergen(Code(SNOMED, "372687004"))  # amoxicillin
    assert found.ingredients == {Code(RXNORM, "723")}
    assert found.classes == {"J01C"}


def test_a_drug_reaches_its_ingredients_and_classes() -> None:
    found = allergen(Code(RXNORM, "198335"))  # sulfamethoxazole / trimethoprim
    assert found.ingredients == {Code(RXNORM, "10180"), Code(RXNORM, "10829")}
    assert found.classes == {"J01EC"}
    assert classes_of(Code(ATC, "J01DD04")) == {"J01D"}


@pytest.mark.parametrize("code", [Code(SNOMED, "999999"), Code(RXNORM, "83367"), Code("urn:x", "723")])
def test_what_no_class_covers_reaches_no_class(code: Code) -> None:
    assert allergen(code).classes == frozenset()
