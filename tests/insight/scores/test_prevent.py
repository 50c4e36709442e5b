"""PREVENT (base model, 10-year) against the published example, its eGFR and BMI inputs, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.insight import Assessment, CannotCompute, Input
from careledger.insight._model import ICD10, SNOMED, Code, Finding
from careledger.insight.scores import _prevent
from careledger.insight.scores._cv import Profile
from careledger.insight.scores._prevent import PREVENT
from tests.insight.scores.cv_facts import (
    AMLODIPINE,
    ATORVASTATIN,
    BMI,
    CREATININE,
    CURRENT_SMOKER,
    DIABETES_TYPE_2,
    EGFR,
    HEART_FAILURE,
    facts,
    lipids_and_pressure,
    measured,
)

# The worked example of the PREVENT supplement, as the AHA calculator, the preventr R package's README and the
# Stata prevent10i help show it: a 50-year-old woman, TC 200, HDL 45, SBP 160 on treatment, no statin, diabetes,
# not smoking, eGFR 90, BMI 35 -> 10-year total CVD 14.7 %, ASCVD 9.2 %, heart failure 8.1 %.
EXAMPLE = {
    "age": 50,
    "sex": "female",
    "conditions": (DIABETES_TYPE_2,),
    "medications": (AMLODIPINE,),
}


def _example(*extra: object, **kwargs: object) -> Assessment:
    measurements = [*lipids_and_pressure(total=200, hdl=45, systolic=160), measured(EGFR, 90), measured(BMI, 35)]
    result = PREVENT.assess(facts(measurements=[*measurements, *extra], **{**EXAMPLE, **kwargs}))  # type: ignore[arg-type]
    assert isinstance(result, Assessment), result
    return result


def test_published_example() -> None:
    result = _example()
    assert round(result.value, 3) == 0.147
    assert result.display == "14.7 % 10-year total CVD risk (ASCVD 9.2 %; heart failure 8.1 %)"
    assert result.band == "intermediate"
    assert result.alert
    assert "2025 AHA/ACC" in result.why


def test_published_example_per_outcome() -> None:
    profile = Profile(50, "female", 200, 45, 160, smoker=False, diabetes=True, treated=True, egfr=90, bmi=35)
    assert round(_prevent.risk(profile, _prevent.CVD), 3) == 0.147
    assert round(_prevent.risk(profile, _prevent.ASCVD), 3) == 0.092
    assert round(_prevent.risk(profile, _prevent.HEART_FAILURE), 3) == 0.081


def test_inputs_include_statin_egfr_and_bmi_with_sources() -> None:
    result = _example(medications=(AMLODIPINE, ATORVASTATIN))
    assert Input("On a statin", "yes", ATORVASTATIN.source) in result.inputs
    assert Input("Treated for high blood pressure", "yes", AMLODIPINE.source) in result.inputs
    assert Input("eGFR", "90 mL/min/1.73 m² on 2026-11-11", f"Observation/{EGFR}-20") in result.inputs
    assert Input("Body mass index", "35 kg/m² on 2026-11-11", f"Observation/{BMI}-20") in result.inputs
    assert result.value != _example().value


def test_egfr_is_computed_from_a_newer_creatinine() -> None:
    result = _example(measured(CREATININE, 1.5, days_ago=5))
    computed = "42 mL/min/1.73 m² (CKD-EPI 2021 from creatinine 1.5 mg/dL on 2026-11-26)"
    assert Input("eGFR", computed, f"Observation/{CREATININE}-5") in result.inputs
    assert result.value > _example().value


def test_an_older_creatinine_yields_to_the_reported_egfr() -> None:
    assert _example(measured(CREATININE, 1.5, days_ago=200)).value == _example().value


def test_heart_failure_left_out_without_bmi() -> None:
    measurements = [*lipids_and_pressure(total=200, hdl=45, systolic=160), measured(EGFR, 90)]
    result = PREVENT.assess(facts(measurements=measurements, **EXAMPLE))  # type: ignore[arg-type]
    assert isinstance(result, Assessment)
    assert round(result.value, 3) == 0.147
    assert "heart failure not computed: no usable body mass index in the last year" in result.display


def test_bmi_out_of_range_is_shown_and_not_used() -> None:
    measurements = [*lipids_and_pressure(total=200, hdl=45, systolic=160), measured(EGFR, 90), measured(BMI, 45)]
    result = PREVENT.assess(facts(measurements=measurements, **EXAMPLE))  # type: ignore[arg-type]
    assert isinstance(result, Assessment)
    assert "heart failure not computed" in result.display
    shown = "45 kg/m² on 2026-11-11, outside 18.5-39.99 kg/m²: not used"
    assert Input("Body mass index", shown, f"Observation/{BMI}-20") in result.inputs


def test_smoker_is_offered_stopping() -> None:
    result = _example(answers=(CURRENT_SMOKER,))
    changes = {lowering.change: lowering.value for lowering in result.lowering}
    assert set(changes) == {
        "systolic blood pressure 160 → 120 mmHg on treatment",
        "stop smoking",
        "total cholesterol 170 mg/dL and HDL cholesterol 50 mg/dL",
    }
    assert changes["stop smoking"] == pytest.approx(_example().value)


def _refused(measurements: list[object], **kwargs: object) -> str:
    result = PREVENT.assess(facts(measurements=measurements, **{**EXAMPLE, **kwargs}))  # type: ignore[arg-type]
    assert isinstance(result, CannotCompute), result
    return str(result)


def test_missing_kidney_function_says_so() -> None:
    assert _refused(lipids_and_pressure()) == "cannot compute: no eGFR or serum creatinine in the last year"


def test_missing_hdl_says_so() -> None:
    measurements = [measured("2093-3", 200), measured("8480-6", 160), measured(EGFR, 90)]
    assert _refused(measurements) == "cannot compute: no HDL cholesterol in the last 5 years"


@pytest.mark.parametrize(
    ("kwargs", "extra", "message"),
    [
        ({"age": 29}, [measured(EGFR, 90)], "age 29 years is outside 30-79 years"),
        ({"age": 80}, [measured(EGFR, 90)], "age 80 years is outside 30-79 years"),
        (
            {},
            [measured(EGFR, 14)],
            "eGFR 14 mL/min/1.73 m² on 2026-11-11 is outside 15-150 mL/min/1.73 m²",
        ),
        (
            {},
            [measured(EGFR, 0)],
            "no usable eGFR or serum creatinine in the last year (eGFR 0 on 2026-11-11 (Observation/98979-8-20) "
            "is outside 0.001-200 mL/min/1.73 m²: not used)",
        ),
        (
            {},
            [measured(EGFR, 1e6)],
            "no usable eGFR or serum creatinine in the last year (eGFR 1e+06 on 2026-11-11 (Observation/98979-8-20) "
            "is outside 0.001-200 mL/min/1.73 m²: not used)",
        ),
        (
            {},
            [measured(CREATININE, 5.0)],
            "eGFR 10 mL/min/1.73 m² (CKD-EPI 2021 from creatinine 5 mg/dL on 2026-11-11) is outside "
            "15-150 mL/min/1.73 m²",
        ),
        (
            {},
            [measured(CREATININE, 50)],
            "no usable eGFR or serum creatinine in the last year (serum creatinine 50 mg/dL on 2026-11-11 is outside "
            "0.1-40 mg/dL: not used)",
        ),
        (
            {"conditions": (HEART_FAILURE,)},
            [measured(EGFR, 90)],
            "not for patients with known CVD: heart failure (Condition/hf)",
        ),
        (
            {"conditions": (Finding(Code(ICD10, "I25.10"), "Condition/cad"),)},
            [measured(EGFR, 90)],
            "not for patients with known CVD: coronary heart disease, angina or coronary revascularisation "
            "(Condition/cad)",
        ),
        (
            {"conditions": (Finding(Code(SNOMED, "266257000"), "Condition/tia"),)},
            [measured(EGFR, 90)],
            "not for patients with known CVD: transient ischaemic attack (Condition/tia)",
        ),
    ],
)
def test_refusals(kwargs: dict[str, object], extra: list[object], message: str) -> None:
    assert _refused([*lipids_and_pressure(), *extra], **kwargs) == f"cannot compute: {message}"


@given(
    sex=st.sampled_from(["female", "male"]),
    age=st.integers(30, 78),
    systolic=st.integers(110, 199),
    smoker=st.booleans(),
)
def test_risk_rises_with_age_and_systolic_pressure(sex: str, age: int, systolic: int, smoker: bool) -> None:
    """Above 110 mmHg (below it the published model is J-shaped), at a normal eGFR."""

    def value(years: int, pressure: int) -> float:
        profile = Profile(years, sex, 200, 45, pressure, smoker, diabetes=False, treated=False, egfr=90, bmi=28)  # type: ignore[arg-type]
        return _prevent.risk(profile, _prevent.CVD)

    assert value(age, systolic + 1) > value(age, systolic)
    assert value(age + 1, systolic) > value(age, systolic)
