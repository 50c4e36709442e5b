"""CKD-EPI 2021 against reference values, KDIGO stages, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.insight import Assessment, CannotCompute, Code, Input
from careledger.insight.scores._ckd_epi import CKD_EPI, egfr, stage
from tests.insight.scores.cv_facts import BLACK, CREATININE, facts, measured


def _assess(creatinine: float, **kwargs: object) -> Assessment:
    result = CKD_EPI.assess(facts(measurements=[measured(CREATININE, creatinine)], **kwargs))  # type: ignore[arg-type]
    assert isinstance(result, Assessment), result
    return result


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "expected"),
    [
        # The NKF calculator (kidney.org, CKD-EPI creatinine 2021): 55-year-old man, creatinine 1.2 mg/dL.
        (1.2, 55, "male", 71),
        # The equation of Inker 2021 Table 2 at its knots: Scr = kappa leaves 142 * 0.9938^age (* 1.012).
        (0.9, 40, "male", round(142 * 0.9938**40)),
        (0.7, 40, "female", round(142 * 0.9938**40 * 1.012)),
        # Worked by hand from Table 2, one in each branch: below kappa (alpha) and above it (-1.200).
        (1.0, 50, "male", 92),
        (1.0, 50, "female", 69),
        (0.5, 30, "female", 129),
        (4.0, 70, "male", 15),
    ],
)
def test_reference_values(creatinine: float, age: int, sex: str, expected: int) -> None:
    result = _assess(creatinine, age=age, sex=sex)
    assert round(result.value) == expected
    assert result.display.startswith(f"eGFR {expected} mL/min/1.73 m² (")


def test_no_race_term() -> None:
    assert _assess(1.2, race=(BLACK,)).value == _assess(1.2, race=()).value


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (90, "G1"),
        (89.9, "G2"),
        (60, "G2"),
        (59.9, "G3a"),
        (45, "G3a"),
        (44.9, "G3b"),
        (30, "G3b"),
        (29.9, "G4"),
        (15, "G4"),
        (14.9, "G5"),
        (3, "G5"),
    ],
)
def test_kdigo_stages(value: float, band: str) -> None:
    assert stage(value)[0] == band


def test_low_egfr_alerts_with_its_stage_and_source() -> None:
    result = _assess(1.6, age=70, sex="female")
    assert result.band == "G3b"
    assert result.alert
    assert "KDIGO G3b" in result.why
    assert Input("Serum creatinine", "1.6 mg/dL on 2026-11-11", f"Observation/{CREATININE}-20") in result.inputs
    assert CKD_EPI.observation
    assert CKD_EPI.code == Code("http://loinc.org", "98979-8")


def test_normal_egfr_does_not_alert() -> None:
    result = _assess(0.8, age=40, sex="male")
    assert result.band == "G1"
    assert not result.alert
    assert result.why == ""


def test_blood_creatinine_code_is_read_and_newest_wins() -> None:
    older = measured(CREATININE, 2.0, days_ago=100)
    newer = measured("38483-4", 1.0, days_ago=10)
    result = CKD_EPI.assess(facts(measurements=[older, newer]))
    assert isinstance(result, Assessment)
    assert Input("Serum creatinine", "1 mg/dL on 2026-11-21", "Observation/38483-4-10") in result.inputs


def test_missing_creatinine_says_so() -> None:
    assert str(CKD_EPI.assess(facts(measurements=[]))) == "cannot compute: no serum creatinine in the last year"


def test_creatinine_older_than_a_year_is_missing() -> None:
    result = CKD_EPI.assess(facts(measurements=[measured(CREATININE, 1.0, days_ago=400)]))
    assert str(result) == "cannot compute: no serum creatinine in the last year"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"age": 17}, "age 17 years is outside 18-130 years"),
        ({"age": None}, "no birth date"),
        ({"sex": None}, "no sex (female or male) recorded"),
        ({"creatinine": 0.05}, "serum creatinine 0.05 mg/dL on 2026-11-11 is outside 0.1-40 mg/dL"),
        ({"creatinine": 88.4}, "serum creatinine 88.4 mg/dL on 2026-11-11 is outside 0.1-40 mg/dL"),
    ],
)
def test_refusals(kwargs: dict[str, object], message: str) -> None:
    creatinine = kwargs.pop("creatinine", 1.0)
    result = CKD_EPI.assess(facts(measurements=[measured(CREATININE, creatinine)], **kwargs))  # type: ignore[arg-type]
    assert isinstance(result, CannotCompute)
    assert str(result) == f"cannot compute: {message}"


@given(
    sex=st.sampled_from(["female", "male"]),
    age=st.integers(18, 100),
    creatinine=st.floats(0.2, 15),
)
def test_egfr_falls_with_creatinine_and_age(sex: str, age: int, creatinine: float) -> None:
    assert egfr(creatinine * 1.05, age, sex) < egfr(creatinine, age, sex)  # type: ignore[arg-type]
    assert egfr(creatinine, age + 1, sex) < egfr(creatinine, age, sex)  # type: ignore[arg-type]
