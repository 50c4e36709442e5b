"""FINDRISC against the score sheet of Lindström & Tuomilehto 2003: each question's points at its edges, the five
risk levels, BMI from weight and height, the family-history relative, what would lower it, and the gaps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from careledger.insight import ICD10, RXNORM, SNOMED, Assessment, CannotCompute, Code, Finding, Measurement
from careledger.insight.scores._findrisc import FINDRISC, FINDRISC_ANSWERS, ROLE_CODE
from tests.insight.scores.cv_facts import ON, facts, measured

BMI, WAIST, WEIGHT, HEIGHT, HBA1C = "39156-5", "8280-0", "29463-7", "8302-2", "4548-4"
ACTIVE = Finding(Code(FINDRISC_ANSWERS, "activity-daily"), "Observation/activity", ON - timedelta(days=5))
INACTIVE = Finding(Code(FINDRISC_ANSWERS, "activity-not-daily"), "Observation/activity", ON - timedelta(days=5))
VEGETABLES = Finding(Code(FINDRISC_ANSWERS, "vegetables-daily"), "Observation/diet", ON - timedelta(days=5))
NO_VEGETABLES = Finding(Code(FINDRISC_ANSWERS, "vegetables-not-daily"), "Observation/diet", ON - timedelta(days=5))
LISINOPRIL = Finding(Code(RXNORM, "29046"), "MedicationStatement/lisinopril")
PREDIABETES = Finding(Code(SNOMED, "714628002"), "Condition/prediabetes")
DIABETES = Finding(Code(ICD10, "E11.9"), "Condition/dm")


def relative(role: str | None, source: str = "FamilyMemberHistory/father") -> tuple[Finding, ...]:
    """A FamilyMemberHistory of type 2 diabetes as the gatherer gives it, with the relative when named."""
    found = (Finding(Code(SNOMED, "44054006"), source),)
    return found + ((Finding(Code(ROLE_CODE, role), source),) if role else ())


def score(
    *,
    age: int = 40,
    sex: str = "female",
    bmi: float = 22,
    waist: float = 75,
    answers: tuple[Finding, ...] = (ACTIVE, VEGETABLES),
    medications: tuple[Finding, ...] = (),
    conditions: tuple[Finding, ...] = (),
    extra: tuple[Measurement, ...] = (),
) -> Assessment:
    result = FINDRISC.assess(
        facts(
            age=age,
            sex=sex,  # type: ignore[arg-type]
            measurements=[measured(BMI, bmi), measured(WAIST, waist, unit="cm"), *extra],
            answers=answers,
            medications=medications,
            conditions=conditions,
        )
    )
    assert isinstance(result, Assessment), result
    return result


def test_no_risk_factor_scores_zero_low() -> None:
    result = score()
    assert (result.value, result.band, result.alert, result.lowering) == (0, "low", False, ())
    assert result.display == "FINDRISC 0 of 26 (low risk: 1 in 100 will develop type 2 diabetes in 10 years)"


@pytest.mark.parametrize(("age", "points"), [(44, 0), (45, 2), (54, 2), (55, 3), (64, 3), (65, 4)])
def test_age(age: int, points: int) -> None:
    assert score(age=age).value == points


@pytest.mark.parametrize(("bmi", "points"), [(24.9, 0), (25, 1), (30, 1), (30.1, 3)])
def test_bmi(bmi: float, points: int) -> None:
    assert score(bmi=bmi).value == points


@pytest.mark.parametrize(
    ("sex", "waist", "points"),
    [
        ("male", 93.9, 0),
        ("male", 94, 3),
        ("male", 102, 3),
        ("male", 102.1, 4),
        ("female", 79.9, 0),
        ("female", 80, 3),
        ("female", 88, 3),
        ("female", 88.1, 4),
    ],
)
def test_waist_by_sex(sex: str, waist: float, points: int) -> None:
    assert score(sex=sex, waist=waist).value == points


@pytest.mark.parametrize(
    ("changed", "points"),
    [
        ({"answers": (INACTIVE, VEGETABLES)}, 2),
        ({"answers": (ACTIVE, NO_VEGETABLES)}, 1),
        ({"medications": (LISINOPRIL,)}, 2),
        ({"conditions": (PREDIABETES,)}, 5),
        ({"extra": (measured(HBA1C, 5.7, days_ago=900, unit="%"),)}, 5),
        ({"extra": (measured(HBA1C, 5.6, unit="%"),)}, 0),
        ({"answers": (ACTIVE, VEGETABLES, *relative("FTH"))}, 5),
        ({"answers": (ACTIVE, VEGETABLES, *relative("SIS"))}, 5),
        ({"answers": (ACTIVE, VEGETABLES, *relative("GRMTH"))}, 3),
        ({"answers": (ACTIVE, VEGETABLES, *relative("COUSN"), *relative("MTH", "FamilyMemberHistory/mother"))}, 5),
    ],
)
def test_each_question(changed: dict[str, object], points: int) -> None:
    assert score(**changed).value == points  # type: ignore[arg-type]


def test_exercise_vital_sign_answers_activity() -> None:
    daily = (measured("89555-7", 7, unit="d/wk"), measured("68516-4", 30, unit="min/d"))
    weekly = (measured("89555-7", 5, unit="d/wk"), measured("68516-4", 60, unit="min/d"))
    assert score(answers=(VEGETABLES,), extra=daily).value == 0
    assert score(answers=(VEGETABLES,), extra=weekly).value == 2


def test_bmi_from_weight_and_height() -> None:
    result = FINDRISC.assess(
        facts(
            age=40,
            measurements=[
                measured(WEIGHT, 81, unit="kg"),
                measured(HEIGHT, 180, days_ago=2000, unit="cm"),
                measured(WAIST, 75, unit="cm"),
            ],
            answers=(ACTIVE, VEGETABLES),
        )
    )
    assert isinstance(result, Assessment)
    assert result.value == 1  # 81 / 1.8² = 25.0
    assert next(i for i in result.inputs if i.label == "BMI").source == f"Observation/{WEIGHT}-20"


def test_a_very_high_worked_example_and_what_would_lower_it() -> None:
    # 58-year-old man (3), BMI 27 (1), waist 100 cm (3), not active daily (2), vegetables daily (0), on an
    # antihypertensive (2), prediabetes (5), a father with diabetes (5): 21.
    result = score(
        age=58,
        sex="male",
        bmi=27,
        waist=100,
        answers=(INACTIVE, VEGETABLES, *relative("FTH")),
        medications=(LISINOPRIL,),
        conditions=(PREDIABETES,),
    )
    assert (result.value, result.band, result.alert) == (21, "very high", True)
    assert "1 in 2" in result.display
    assert [(lo.change, lo.value) for lo in result.lowering] == [
        ("BMI below 25 kg/m²", 20.0),
        ("Waist below 94 cm", 18.0),
        ("30 minutes of physical activity every day", 19.0),
    ]


OBESE_65 = {"age": 65, "bmi": 31, "waist": 85}  # 4 + 3 + 3 = 10 (a woman)


@pytest.mark.parametrize(
    ("changed", "total", "band", "alert"),
    [
        ({"age": 55, "bmi": 31}, 6, "low", False),
        ({"age": 65, "bmi": 31}, 7, "slightly elevated", False),
        ({**OBESE_65, "answers": (ACTIVE, NO_VEGETABLES)}, 11, "slightly elevated", False),
        ({**OBESE_65, "medications": (LISINOPRIL,)}, 12, "moderate", False),
        ({**OBESE_65, "medications": (LISINOPRIL,), "answers": (INACTIVE, VEGETABLES)}, 14, "moderate", False),
        ({**OBESE_65, "conditions": (PREDIABETES,)}, 15, "high", True),
        (
            {**OBESE_65, "conditions": (PREDIABETES,), "answers": (ACTIVE, VEGETABLES, *relative("FTH"))},
            20,
            "high",
            True,
        ),
        (
            {**OBESE_65, "conditions": (PREDIABETES,), "answers": (ACTIVE, NO_VEGETABLES, *relative("FTH"))},
            21,
            "very high",
            True,
        ),
    ],
)
def test_the_score_sheets_five_levels(changed: dict[str, object], total: int, band: str, alert: bool) -> None:
    result = score(**changed)  # type: ignore[arg-type]
    assert (result.value, result.band, result.alert) == (total, band, alert)


def test_the_maximum_is_twenty_six() -> None:
    result = score(
        age=70,
        sex="male",
        bmi=35,
        waist=110,
        answers=(INACTIVE, NO_VEGETABLES, *relative("MTH")),
        medications=(LISINOPRIL,),
        conditions=(PREDIABETES,),
    )
    assert result.value == 26


def test_diabetes_already_diagnosed_is_not_scored() -> None:
    result = FINDRISC.assess(facts(conditions=(DIABETES,)))
    assert isinstance(result, CannotCompute)
    assert result.missing == (
        "diabetes is already on the problem list (Condition/dm): FINDRISC screens people without it",
    )


def test_unanswered_questions_are_gaps_never_no() -> None:
    result = FINDRISC.assess(facts(age=50, sex=None, measurements=[], answers=()))
    assert isinstance(result, CannotCompute)
    assert str(result) == (
        "cannot compute: no sex (female or male) recorded; no BMI, or weight and height, in the last year; "
        "no waist circumference in the last year; "
        "no answer on 30 minutes of physical activity daily in the last year; "
        "no answer on eating vegetables, fruit or berries every day in the last year"
    )


def test_a_family_history_without_the_relative_is_a_gap() -> None:
    result = FINDRISC.assess(
        facts(
            measurements=[measured(BMI, 22), measured(WAIST, 75, unit="cm")],
            answers=(ACTIVE, VEGETABLES, *relative(None)),
        )
    )
    assert isinstance(result, CannotCompute)
    assert result.missing == ("a family history of diabetes (FamilyMemberHistory/father) does not say which relative",)


def test_old_answers_do_not_count() -> None:
    stale = Finding(ACTIVE.code, ACTIVE.source, ON - timedelta(days=400))
    result = FINDRISC.assess(
        facts(measurements=[measured(BMI, 22), measured(WAIST, 75, unit="cm")], answers=(stale, VEGETABLES))
    )
    assert isinstance(result, CannotCompute)
    assert result.missing == ("no answer on 30 minutes of physical activity daily in the last year",)
