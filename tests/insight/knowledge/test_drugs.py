"""The drug table answers ingredients and ATC classes for RxNorm ingredients, clinical drugs and ATC codes, and
nothing for what it does not know."""

from __future__ import annotations

import pytest

from careledger.insight import RXNORM, SNOMED, Code
from careledger.insight.knowledge import ATC, atc_classes, ingredient_name, ingredients
from careledger.insight.knowledge._drugs import INGREDIENTS

AMOXICILLIN = Code(RXNORM, "723")


def test_a_clinical_drug_is_its_ingredient_and_class() -> None:
    amoxicillin_500_capsule = Code(RXNORM, "308191")
    assert ingredients(amoxicillin_500_capsule) == {AMOXICILLIN}
    assert atc_classes(amoxicillin_500_capsule) == {"J01CA04"}


def test_an_ingredient_is_itself() -> None:
    assert ingredients(AMOXICILLIN) == {AMOXICILLIN}
    assert ingredient_name(AMOXICILLIN) == "amoxicillin"
    assert atc_classes(Code(RXNORM, "6809")) == {"A10BA02"}


def test_a_combination_has_both_ingredients() -> None:
    both = {Code(RXNORM, "10180"), Code(RXNORM, "10829")}
    assert ingredients(Code(RXNORM, "198335")) == both
    assert ingredients(Code(ATC, "J01EE01")) == both
    assert atc_classes(Code(RXNORM, "198335")) == {"J01EC01", "J01EA01"}


def test_an_atc_code_is_canonical_and_maps_back() -> None:
    assert atc_classes(Code(ATC, " c10aa05 ")) == {"C10AA05"}
    assert atc_classes(Code(ATC, "C10AA")) == {"C10AA"}
    assert ingredients(Code(ATC, "C10AA05")) == {Code(RXNORM, "83367")}


@pytest.mark.parametrize(
    "code",
    [Code(RXNORM, "999999999"), Code(RXNORM, ""), Code(SNOMED, "723"), Code(ATC, "not-atc"), Code(ATC, "C1")],
)
def test_what_the_table_does_not_know_is_empty(code: Code) -> None:
    assert ingredients(code) == frozenset()
    assert atc_classes(code) == frozenset()
    assert ingredient_name(code) is None


def test_the_table_covers_the_classes_the_checks_need() -> None:
    classes = {a for i in INGREDIENTS for a in i.atc}
    for needed in ("C02", "C03", "C07", "C08", "C09", "C10AA", "B01AC", "B01AA", "B01AF", "M01A", "J01C", "J01D"):
        assert any(a.startswith(needed) for a in classes), needed
    assert len(INGREDIENTS) >= 60
    assert len({i.rxcui for i in INGREDIENTS}) == len(INGREDIENTS)
    scds = [s for i in INGREDIENTS for s in i.scd]
    assert len(set(scds)) == len(scds)
