"""HAS-BLED against Pisters 2010 (Table 2: one point per item; Table 3: bleeds per 100 patient-years): each item
alone, the renal and INR rules this reading of the record uses, the bands, what would lower it, and the gaps."""

from __future__ import annotations

import pytest

from careledger.insight import ICD10, RXNORM, SNOMED, Assessment, CannotCompute, Code, Finding, Measurement
from careledger.insight.scores._has_bled import HAS_BLED
from tests.insight.scores.cv_facts import facts, measured

SBP, CREATININE, INR = "8480-6", "2160-0", "6301-6"
DIALYSIS = Finding(Code(ICD10, "Z99.2"), "Condition/dialysis")
CIRRHOSIS = Finding(Code(SNOMED, "19943007"), "Condition/cirrhosis")
STROKE = Finding(Code(SNOMED, "230690007"), "Condition/stroke")
GI_BLEED = Finding(Code(ICD10, "K92.2"), "Condition/gi-bleed")
ALCOHOL = Finding(Code(ICD10, "F10.20"), "Condition/alcohol")
CLOPIDOGREL = Finding(Code(RXNORM, "32968"), "MedicationStatement/clopidogrel")
IBUPROFEN = Finding(Code(RXNORM, "5640"), "MedicationStatement/ibuprofen")
WARFARIN = Finding(Code(RXNORM, "11289"), "MedicationStatement/warfarin")


def score(
    *,
    age: int = 60,
    systolic: float = 130,
    conditions: tuple[Finding, ...] = (),
    medications: tuple[Finding, ...] = (),
    extra: tuple[Measurement, ...] = (),
) -> Assessment:
    result = HAS_BLED.assess(
        facts(age=age, measurements=[measured(SBP, systolic), *extra], conditions=conditions, medications=medications)
    )
    assert isinstance(result, Assessment), result
    return result


def inrs(*values: float) -> tuple[Measurement, ...]:
    return tuple(measured(INR, v, days_ago=10 * (i + 1), unit="{INR}") for i, v in enumerate(values))


def test_no_item_scores_zero_low() -> None:
    result = score()
    assert (result.value, result.band, result.alert, result.lowering) == (0, "low", False, ())
    assert "1.13 major bleeds per 100 patient-years" in result.display


@pytest.mark.parametrize(
    "changed",
    [
        {"systolic": 161},
        {"conditions": (DIALYSIS,)},
        {"extra": (measured(CREATININE, 2.27),)},
        {"extra": (measured(CREATININE, 200 / 88.42),)},  # exactly the paper's 200 µmol/L
        {"conditions": (CIRRHOSIS,)},
        {"conditions": (STROKE,)},
        {"conditions": (GI_BLEED,)},
        {"medications": (WARFARIN,), "extra": inrs(1.6, 2.5, 3.6, 1.8, 2.2)},
        {"age": 66},
        {"medications": (CLOPIDOGREL,)},
        {"medications": (IBUPROFEN,)},
        {"conditions": (ALCOHOL,)},
    ],
)
def test_each_item_scores_one(changed: dict[str, object]) -> None:
    assert score(**changed).value == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changed",
    [
        {"systolic": 160},
        {"extra": (measured(CREATININE, 2.26),)},  # 199.8 µmol/L, under the paper's 200
        {"extra": (measured(CREATININE, 199.9 / 88.42),)},
        {"age": 65},
        {"medications": (WARFARIN,), "extra": inrs(2.0, 2.5, 3.0, 3.4, 2.2)},  # 80 % in range
    ],
)
def test_the_edges_score_nothing(changed: dict[str, object]) -> None:
    assert score(**changed).value == 0  # type: ignore[arg-type]


def test_antiplatelet_and_alcohol_are_two_points() -> None:
    result = score(medications=(CLOPIDOGREL, IBUPROFEN), conditions=(ALCOHOL,))
    assert result.value == 2
    assert result.band == "moderate"


def test_three_or_more_is_high_and_says_what_would_lower_it() -> None:
    result = score(age=70, systolic=172, medications=(CLOPIDOGREL,), conditions=(ALCOHOL,))
    assert (result.value, result.band, result.alert) == (4, "high", True)
    assert "8.70 major bleeds per 100 patient-years" in result.display
    assert "not by itself a reason to withhold anticoagulation" in result.why
    assert [(lo.change, lo.value) for lo in result.lowering] == [
        ("Systolic blood pressure at or below 160 mmHg", 3.0),
        ("Stop the antiplatelet or NSAID unless it is needed", 3.0),
        ("Alcohol below 8 drinks a week", 3.0),
    ]


def test_the_maximum_is_nine_and_beyond_table_3() -> None:
    result = score(
        age=80,
        systolic=190,
        conditions=(DIALYSIS, CIRRHOSIS, STROKE, GI_BLEED, ALCOHOL),
        medications=(WARFARIN, CLOPIDOGREL),
        extra=inrs(1.5, 1.7, 3.5),
    )
    assert result.value == 9
    assert "too few patients to say" in result.display


def test_inputs_name_sources() -> None:
    result = score(extra=(measured(CREATININE, 1.1),), medications=(CLOPIDOGREL,))
    shown = {i.label: (i.value, i.source) for i in result.inputs}
    assert shown["Abnormal renal function"] == (
        "no: creatinine 1.1 mg/dL on 2026-11-11: 0 points",
        "Observation/2160-0-20",
    )
    assert shown["Antiplatelet or NSAID"] == ("yes: 1 point", "MedicationStatement/clopidogrel")
    assert shown["Labile INR"][0] == "no (not on a vitamin K antagonist): 0 points"


def test_missing_blood_pressure_and_age_are_named() -> None:
    result = HAS_BLED.assess(facts(age=None, measurements=[measured(SBP, 150, days_ago=400)]))
    assert isinstance(result, CannotCompute)
    assert str(result) == "cannot compute: no systolic blood pressure in the last year; no birth date"


def test_too_few_inrs_on_warfarin_is_a_gap_not_a_guess() -> None:
    result = HAS_BLED.assess(facts(measurements=[measured(SBP, 130), *inrs(2.5, 1.4)], medications=(WARFARIN,)))
    assert isinstance(result, CannotCompute)
    assert result.missing == ("fewer than 3 INR results in the last 6 months on a vitamin K antagonist (labile INR)",)


def test_an_implausible_pressure_is_refused() -> None:
    result = HAS_BLED.assess(facts(measurements=[measured(SBP, 1300)]))
    assert isinstance(result, CannotCompute)
    assert result.missing == ("systolic blood pressure 1300 mmHg on 2026-11-11 is outside 60-300 mmHg",)
