"""The Pooled Cohort Equations against Goff 2013 Table A's worked example, and every refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.insight import Assessment, CannotCompute, Input
from careledger.insight._model import ICD10, LOINC, SNOMED, Code, Finding, Unread
from careledger.insight.scores._pce import PCE
from tests.insight.scores.cv_facts import (
    AMLODIPINE,
    ASIAN,
    BLACK,
    CURRENT_SMOKER,
    DIABETES_TYPE_2,
    HDL,
    MYOCARDIAL_INFARCTION,
    ON,
    SYSTOLIC,
    TOTAL_CHOLESTEROL,
    WHITE,
    facts,
    lipids_and_pressure,
    measured,
)


def _assess(**kwargs: object) -> Assessment:
    result = PCE.assess(facts(**kwargs))  # type: ignore[arg-type]
    assert isinstance(result, Assessment), result
    return result


def _refused(**kwargs: object) -> str:
    result = PCE.assess(facts(**kwargs))  # type: ignore[arg-type]
    assert isinstance(result, CannotCompute), result
    return str(result)


@pytest.mark.parametrize(
    ("sex", "race", "percent"),
    [("female", WHITE, 2.1), ("female", BLACK, 3.0), ("male", BLACK, 6.1)],
)
def test_goff_table_a_example(sex: str, race: object, percent: float) -> None:
    """55 years, TC 213, HDL 50, SBP 120 untreated, non-smoker, no diabetes (Goff 2013, Table A)."""
    result = _assess(sex=sex, race=(race,), measurements=lipids_and_pressure())
    assert round(result.value * 100, 1) == percent
    assert result.display == f"{percent:.1f} % 10-year ASCVD risk"


def test_goff_table_a_white_man() -> None:
    """Table A prints 5.3 %, computed from its individual sum rounded to 60.69; the equation with unrounded terms
    (sum 60.6995) gives 5.38 %: the same to the precision of the table's own rounding."""
    result = _assess(sex="male", measurements=lipids_and_pressure())
    assert result.value * 100 == pytest.approx(5.3, abs=0.1)
    assert result.value * 100 == pytest.approx(5.384, abs=0.001)
    assert result.band == "borderline"
    assert not result.alert


def test_inputs_name_their_sources_and_equation() -> None:
    result = _assess(sex="female", race=(BLACK,), measurements=lipids_and_pressure())
    assert Input("HDL cholesterol", "50 mg/dL on 2026-11-11", f"Observation/{HDL}-20") in result.inputs
    assert Input("Systolic blood pressure", "120 mmHg on 2026-11-11", f"Observation/{SYSTOLIC}-20") in result.inputs
    assert Input("Race (equations used)", "Black or African American (African American equations)") in result.inputs
    assert Input("Current smoker", "no", "Observation/smoking") in result.inputs
    assert Input("Diabetes", "no") in result.inputs
    assert result.version.startswith("ACC/AHA Pooled Cohort Equations 2013")


@pytest.mark.parametrize(
    ("race", "said"),
    [
        ((), "not recorded (white equations; may underestimate for Black patients)"),
        ((ASIAN,), "other than White or Black (white equations, as Goff 2013 advises)"),
    ],
)
def test_unknown_or_other_race_uses_white_equations_and_says_so(race: tuple[object, ...], said: str) -> None:
    white = _assess(measurements=lipids_and_pressure())
    other = _assess(race=race, measurements=lipids_and_pressure())
    assert other.value == white.value
    assert Input("Race (equations used)", said) in other.inputs


def test_high_risk_alerts_and_says_what_would_lower_it() -> None:
    result = _assess(
        age=65,
        sex="male",
        measurements=lipids_and_pressure(total=240, hdl=38, systolic=150),
        conditions=(DIABETES_TYPE_2,),
        medications=(AMLODIPINE,),
        answers=(CURRENT_SMOKER,),
    )
    assert result.band == "high"
    assert result.alert
    assert "7.5 %" in result.why
    assert Input("Treated for high blood pressure", "yes", AMLODIPINE.source) in result.inputs
    assert Input("Diabetes", "yes", DIABETES_TYPE_2.source) in result.inputs
    changes = [lowering.change for lowering in result.lowering]
    assert changes == [
        "systolic blood pressure 150 → 120 mmHg on treatment",
        "stop smoking",
        "total cholesterol 170 mg/dL and HDL cholesterol 50 mg/dL",
    ]
    assert all(lowering.value < result.value for lowering in result.lowering)


def test_nothing_to_lower_offers_nothing() -> None:
    result = _assess(measurements=lipids_and_pressure(total=160, hdl=60, systolic=110))
    assert result.lowering == ()
    assert result.band == "low"


def test_missing_hdl_says_so() -> None:
    measurements = [measured(TOTAL_CHOLESTEROL, 213), measured(SYSTOLIC, 120)]
    assert _refused(measurements=measurements) == "cannot compute: no HDL cholesterol in the last 5 years"


def test_an_hdl_in_a_unit_not_understood_is_said_not_called_missing() -> None:
    """The test was done: a clinician told "no HDL cholesterol" would go looking for it."""
    measurements = [measured(TOTAL_CHOLESTEROL, 213), measured(SYSTOLIC, 120)]
    unread = Unread(Code(LOINC, HDL), "unit 'xyz' not understood", ON - timedelta(days=3), "Observation/hdl")
    result = PCE.assess(replace(facts(measurements=measurements), unread=(unread,)))
    assert str(result) == (
        "cannot compute: no usable HDL cholesterol in the last 5 years (unit 'xyz' not understood, Observation/hdl "
        "on 2026-11-28)"
    )


def test_stale_measurements_are_missing() -> None:
    measurements = [
        measured(TOTAL_CHOLESTEROL, 213, days_ago=6 * 365),
        measured(HDL, 50, days_ago=4 * 365),
        measured(SYSTOLIC, 120, days_ago=400),
    ]
    assert _refused(measurements=measurements) == (
        "cannot compute: no total cholesterol in the last 5 years; no systolic blood pressure in the last year"
    )


def test_every_gap_is_said_at_once() -> None:
    assert _refused(age=None, sex=None, answers=(), measurements=[]) == (
        "cannot compute: no birth date; no sex (female or male) recorded; no total cholesterol in the last 5 years; "
        "no HDL cholesterol in the last 5 years; no systolic blood pressure in the last year; "
        "no smoking status recorded"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"age": 39}, "age 39 years is outside 40-79 years"),
        ({"age": 80}, "age 80 years is outside 40-79 years"),
        ({"total": 321}, "total cholesterol 321 mg/dL on 2026-11-11 is outside 130-320 mg/dL"),
        ({"hdl": 19}, "HDL cholesterol 19 mg/dL on 2026-11-11 is outside 20-100 mg/dL"),
        ({"systolic": 201}, "systolic blood pressure 201 mmHg on 2026-11-11 is outside 90-200 mmHg"),
    ],
)
def test_out_of_range_is_refused(kwargs: dict[str, int], message: str) -> None:
    age = kwargs.pop("age", 55)
    assert _refused(age=age, measurements=lipids_and_pressure(**kwargs)) == f"cannot compute: {message}"


def test_known_ascvd_is_refused() -> None:
    assert _refused(measurements=lipids_and_pressure(), conditions=(MYOCARDIAL_INFARCTION,)) == (
        "cannot compute: not for patients with known ASCVD: myocardial infarction (Condition/mi)"
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (Code(SNOMED, "53741008"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(SNOMED, "194828000"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(ICD10, "I20.9"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(ICD10, "I25.10"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(ICD10, "I25.110"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(ICD10, "Z95.1"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(ICD10, "Z95.5"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(ICD10, "Z98.61"), "coronary heart disease, angina or coronary revascularisation"),
        (Code(SNOMED, "266257000"), "transient ischaemic attack"),
        (Code(ICD10, "G45.9"), "transient ischaemic attack"),
    ],
)
def test_clinical_ascvd_short_of_an_mi_is_refused(code: Code, words: str) -> None:
    """Goff 2013 excludes all clinical ASCVD: angina, CAD, revascularisation and TIA too, not only MI or stroke."""
    found = Finding(code, "Condition/ascvd")
    assert _refused(measurements=lipids_and_pressure(), conditions=(found,)) == (
        f"cannot compute: not for patients with known ASCVD: {words} (Condition/ascvd)"
    )


@given(
    sex=st.sampled_from(["female", "male"]),
    black=st.booleans(),
    age=st.integers(40, 78),
    systolic=st.integers(90, 199),
)
def test_risk_rises_with_age_and_systolic_pressure(sex: str, black: bool, age: int, systolic: int) -> None:
    race = (BLACK,) if black else (WHITE,)

    def value(years: int, pressure: int) -> float:
        return _assess(age=years, sex=sex, race=race, measurements=lipids_and_pressure(systolic=pressure)).value

    assert value(age, systolic + 1) > value(age, systolic)
    assert value(age + 1, systolic) > value(age, systolic)
