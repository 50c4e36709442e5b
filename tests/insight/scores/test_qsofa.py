"""qSOFA against Sepsis-3 (Seymour 2016; Singer 2016, Box 4): one point each for RR >= 22, SBP <= 100 and
altered mentation, positive at 2; mentation from the GCS, else from ACVPU; gaps named."""

from __future__ import annotations

import pytest

from careledger.insight import SNOMED, Assessment, CannotCompute, Code, Finding
from careledger.insight.scores._qsofa import QSOFA
from tests.insight.scores.cv_facts import ON, facts, measured

RR, SBP, GCS = "9279-1", "8480-6", "9269-2"
ALERT = Finding(Code(SNOMED, "248234008"), "Observation/acvpu", ON)
VOICE = Finding(Code(SNOMED, "300202002"), "Observation/acvpu", ON)


def qsofa(rr: float, sbp: float, gcs: float | None = 15, answers: tuple[Finding, ...] = ()) -> Assessment:
    values = {RR: rr, SBP: sbp} | ({} if gcs is None else {GCS: gcs})
    result = QSOFA.assess(facts(measurements=[measured(c, v, days_ago=0) for c, v in values.items()], answers=answers))
    assert isinstance(result, Assessment), result
    return result


@pytest.mark.parametrize(
    ("rr", "sbp", "gcs", "total"),
    [(21, 101, 15, 0), (22, 101, 15, 1), (21, 100, 15, 1), (21, 101, 14, 1), (22, 100, 15, 2), (22, 100, 14, 3)],
)
def test_each_criterion_scores_one_at_its_threshold(rr: float, sbp: float, gcs: float, total: int) -> None:
    assert qsofa(rr, sbp, gcs).value == total


def test_two_or_more_is_positive_and_alerts() -> None:
    positive = qsofa(24, 95, 15)
    assert (positive.band, positive.alert) == ("positive", True)
    assert positive.display == "qSOFA 2 of 3 (positive)"
    assert "organ dysfunction" in positive.why
    negative = qsofa(24, 120, 15)
    assert (negative.band, negative.alert, negative.why) == ("negative", False, "")


def test_acvpu_answers_mentation_when_there_is_no_gcs() -> None:
    assert qsofa(16, 120, None, answers=(VOICE,)).value == 1
    assert qsofa(16, 120, None, answers=(ALERT,)).value == 0


def test_inputs_carry_points_and_sources() -> None:
    result = qsofa(22, 120, 15)
    assert [(i.label, i.value, i.source) for i in result.inputs] == [
        ("Respiratory rate", "22 /min on 2026-12-01: 1 point", f"Observation/{RR}-0"),
        ("Systolic blood pressure", "120 mmHg on 2026-12-01: 0 points", f"Observation/{SBP}-0"),
        ("Glasgow Coma Scale", "15 points on 2026-12-01: 0 points", f"Observation/{GCS}-0"),
    ]


def test_missing_inputs_are_named() -> None:
    result = QSOFA.assess(facts(measurements=[measured(RR, 20, days_ago=1)], answers=()))
    assert isinstance(result, CannotCompute)
    assert str(result) == (
        "cannot compute: no respiratory rate today; no systolic blood pressure today; "
        "no Glasgow Coma Scale or level of consciousness (ACVPU) today"
    )


def test_an_impossible_gcs_is_refused() -> None:
    result = QSOFA.assess(
        facts(measurements=[measured(c, v, days_ago=0) for c, v in {RR: 20, SBP: 120, GCS: 2}.items()])
    )
    assert isinstance(result, CannotCompute)
    assert result.missing == ("Glasgow Coma Scale 2 points on 2026-12-01 is outside 3-15 points",)
