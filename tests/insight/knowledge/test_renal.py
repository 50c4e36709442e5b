"""Renal rules answer by ingredient and eGFR band, with a source for each, and nothing for drugs without one."""

from __future__ import annotations

import pytest

from careledger.insight import RXNORM, Code
from careledger.insight.knowledge import ATC, renal_rules, rules_at
from careledger.insight.knowledge._renal import RULES

METFORMIN_500_TABLET = Code(RXNORM, "861007")


@pytest.mark.parametrize(
    ("egfr", "severity"),
    [(10, "critical"), (29.9, "critical"), (30, "warning"), (44.9, "warning"), (45, None), (90, None)],
)
def test_metformin_by_band(egfr: float, severity: str | None) -> None:
    found = rules_at(METFORMIN_500_TABLET, egfr)
    assert [r.severity for r in found] == ([] if severity is None else [severity])


def test_metformin_30_to_45_reduces_to_1000_mg_a_day() -> None:
    (rule,) = rules_at(Code(RXNORM, "6809"), 40)
    assert rule.dose is not None
    assert rule.dose.daily == 1000
    assert str(rule.dose) == "500 mg twice a day"
    assert "KDIGO" in rule.source


@pytest.mark.parametrize(
    ("code", "egfr", "severity"),
    [
        (Code(RXNORM, "1648759"), 25, "critical"),  # nitrofurantoin 100 mg capsule
        (Code(RXNORM, "1037045"), 25, "critical"),  # dabigatran 150 mg capsule
        (Code(RXNORM, "1232086"), 40, "warning"),  # rivaroxaban 20 mg tablet
        (Code(RXNORM, "1364445"), 20, "warning"),  # apixaban 5 mg tablet
        (Code(RXNORM, "310431"), 50, "warning"),  # gabapentin 300 mg capsule
        (Code(ATC, "M01AE01"), 20, "critical"),  # ibuprofen by ATC
        (Code(RXNORM, "1545653"), 15, "warning"),  # empagliflozin
    ],
)
def test_each_renally_dosed_class_has_its_rule(code: Code, egfr: float, severity: str) -> None:
    assert [r.severity for r in rules_at(code, egfr)] == [severity]


@pytest.mark.parametrize(
    ("code", "egfr"),
    [(Code(RXNORM, "1648759"), 45), (Code(RXNORM, "1232086"), 60), (Code(RXNORM, "310431"), 75)],
)
def test_above_the_band_nothing_applies(code: Code, egfr: float) -> None:
    assert rules_at(code, egfr) == ()


def test_drugs_without_rules_and_unknown_codes_have_none() -> None:
    assert renal_rules(Code(RXNORM, "83367")) == ()  # atorvastatin
    assert renal_rules(Code(RXNORM, "999999999")) == ()
    assert rules_at(Code("urn:example", "6809"), 10) == ()


def test_every_rule_names_its_source_and_bands_do_not_overlap() -> None:
    for rule in RULES:
        assert rule.source
        assert rule.url.startswith("https://")
        assert rule.low < rule.high
        assert len(rule.summary) <= 140
    for a in RULES:
        for b in RULES:
            if a is not b and a.ingredient == b.ingredient:
                assert a.high <= b.low or b.high <= a.low, (a.summary, b.summary)
