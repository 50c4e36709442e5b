"""The AHA PREVENT equations, base model: 10-year risk of total cardiovascular disease, of ASCVD, and of heart
failure, for adults 30-79 without known cardiovascular disease, with no race term.

Source: Khan SS, Matsushita K, Sang Y, et al. Development and validation of the American Heart Association's
PREVENT equations. Circulation 2024;149:430-49, Supplemental Table S12 (sex-specific logistic models, 10-year,
base model). Each outcome is  risk = eˣ / (1 + eˣ)  with x the sum of the coefficients below times:

    age        (age - 55) / 10                    non-HDL    (TC - HDL) * 0.02586 - 3.5   (mmol/L)
    HDL        (HDL * 0.02586 - 1.3) / 0.3        SBP<110    (min(SBP, 110) - 110) / 20
    SBP≥110    (max(SBP, 110) - 130) / 20         eGFR<60    (min(eGFR, 60) - 60) / -15
    eGFR≥60    (max(eGFR, 60) - 90) / -15         BMI<30     (min(BMI, 30) - 25) / 5
    BMI≥30     (max(BMI, 30) - 30) / 5            and diabetes, smoking, treatment (0/1) and their interactions

Inputs: eGFR as every check here reads it (`_ckd_epi.kidney_function`): the newest of the last year, as reported
(LOINC 98979-8 CKD-EPI 2021, the equation the paper used, or an older equation's) or computed by CKD-EPI 2021 from
a newer serum creatinine; BMI (LOINC 39156-5, the last year) is needed for
heart failure only, which is left out, and said so, without it. Ranges as the AHA calculator: age 30-79, total
cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, systolic 90-200 mmHg, eGFR 15-150, BMI 18.5-39.99.

The paper defines no risk categories. The score's value is the 10-year total CVD risk, banded as the 2018
guideline bands 10-year risk (<5 %, 5-7.4 %, 7.5-19.9 %, ≥20 %), with an alert at 7.5 %, the PREVENT threshold of
the 2025 AHA/ACC high blood pressure guideline for treating stage 1 hypertension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from careledger.insight._model import Facts, Result, Sex
from careledger.insight.scores import _codes, _cv
from careledger.insight.scores._ckd_epi import kidney_function
from careledger.insight.scores._reading import BODY_MASS_INDEX, ONE_YEAR, Bounds, Reading, percent

VERSION = "AHA PREVENT 2023 base model, 10-year (Khan 2024, Table S12)"
AGES = Bounds(30, 79, "years")
EGFR_RANGE = Bounds(15, 150, "mL/min/1.73 m²")
BMI_RANGE = Bounds(18.5, 39.99, "kg/m²")
MG_DL_TO_MMOL_L = 0.02586  # cholesterol, as the paper converts


@dataclass(frozen=True, slots=True)
class Coefficients:
    """One sex's model for one outcome (Table S12); terms a model lacks are zero."""

    constant: float
    age: float
    sbp_low: float
    sbp_high: float
    diabetes: float
    smoker: float
    egfr_low: float
    egfr_high: float
    treated: float
    sbp_high_x_treated: float
    age_x_sbp_high: float
    age_x_diabetes: float
    age_x_smoker: float
    age_x_egfr_low: float
    non_hdl: float = 0.0
    hdl: float = 0.0
    statin: float = 0.0
    non_hdl_x_statin: float = 0.0
    age_x_non_hdl: float = 0.0
    age_x_hdl: float = 0.0
    bmi_low: float = 0.0
    bmi_high: float = 0.0
    age_x_bmi_high: float = 0.0


# fmt: off
CVD: dict[Sex, Coefficients] = {
    "female": Coefficients(
        constant=-3.307728, age=0.7939329, sbp_low=-0.2394003, sbp_high=0.3600781, diabetes=0.8667604,
        smoker=0.5360739, egfr_low=0.6045917, egfr_high=0.0433769, treated=0.3151672, sbp_high_x_treated=-0.0663612,
        age_x_sbp_high=-0.0946348, age_x_diabetes=-0.27057, age_x_smoker=-0.078715, age_x_egfr_low=-0.1637806,
        non_hdl=0.0305239, hdl=-0.1606857, statin=-0.1477655, non_hdl_x_statin=0.1197879, age_x_non_hdl=-0.0819715,
        age_x_hdl=0.0306769,
    ),
    "male": Coefficients(
        constant=-3.031168, age=0.7688528, sbp_low=-0.4347345, sbp_high=0.3362658, diabetes=0.7692857,
        smoker=0.4386871, egfr_low=0.5378979, egfr_high=0.0164827, treated=0.288879, sbp_high_x_treated=-0.0475924,
        age_x_sbp_high=-0.1049477, age_x_diabetes=-0.2251948, age_x_smoker=-0.0895067, age_x_egfr_low=-0.1543702,
        non_hdl=0.0736174, hdl=-0.0954431, statin=-0.1337349, non_hdl_x_statin=0.150273, age_x_non_hdl=-0.0517874,
        age_x_hdl=0.0191169,
    ),
}
ASCVD: dict[Sex, Coefficients] = {
    "female": Coefficients(
        constant=-3.819975, age=0.719883, sbp_low=-0.0835358, sbp_high=0.3592852, diabetes=0.8348585,
        smoker=0.4831078, egfr_low=0.4864619, egfr_high=0.0397779, treated=0.2265309, sbp_high_x_treated=-0.0395762,
        age_x_sbp_high=-0.1035985, age_x_diabetes=-0.2417542, age_x_smoker=-0.0791142, age_x_egfr_low=-0.1671492,
        non_hdl=0.1176967, hdl=-0.151185, statin=-0.0592374, non_hdl_x_statin=0.0844423, age_x_non_hdl=-0.0567839,
        age_x_hdl=0.0325692,
    ),
    "male": Coefficients(
        constant=-3.500655, age=0.7099847, sbp_low=-0.2837212, sbp_high=0.3239977, diabetes=0.7189597,
        smoker=0.3956973, egfr_low=0.3690075, egfr_high=0.0203619, treated=0.2036522, sbp_high_x_treated=-0.0322916,
        age_x_sbp_high=-0.0927024, age_x_diabetes=-0.2018525, age_x_smoker=-0.0970527, age_x_egfr_low=-0.1217081,
        non_hdl=0.1658663, hdl=-0.1144285, statin=-0.0865581, non_hdl_x_statin=0.114563, age_x_non_hdl=-0.0300005,
        age_x_hdl=0.0232747,
    ),
}
HEART_FAILURE: dict[Sex, Coefficients] = {
    "female": Coefficients(
        constant=-4.310409, age=0.8998235, sbp_low=-0.4559771, sbp_high=0.3576505, diabetes=1.038346,
        smoker=0.583916, egfr_low=0.7451638, egfr_high=0.0557087, treated=0.3534442, sbp_high_x_treated=-0.0981511,
        age_x_sbp_high=-0.0946663, age_x_diabetes=-0.3581041, age_x_smoker=-0.1159453, age_x_egfr_low=-0.1884289,
        bmi_low=-0.0072294, bmi_high=0.2997706, age_x_bmi_high=-0.003878,
    ),
    "male": Coefficients(
        constant=-3.946391, age=0.8972642, sbp_low=-0.6811466, sbp_high=0.3634461, diabetes=0.923776,
        smoker=0.5023736, egfr_low=0.6926917, egfr_high=0.0251827, treated=0.2980922, sbp_high_x_treated=-0.0497731,
        age_x_sbp_high=-0.1289201, age_x_diabetes=-0.3040924, age_x_smoker=-0.1401688, age_x_egfr_low=-0.1797778,
        bmi_low=-0.0485841, bmi_high=0.3726929, age_x_bmi_high=0.0068126,
    ),
}
# fmt: on


def risk(profile: _cv.Profile, model: dict[Sex, Coefficients]) -> float:
    """10-year risk (a fraction) of one outcome's model; the profile must carry eGFR (and BMI for heart failure)."""
    if profile.egfr is None or (profile.bmi is None and model is HEART_FAILURE):
        raise ValueError("PREVENT needs eGFR, and BMI for heart failure")
    c = model[profile.sex]
    age = (profile.age - 55) / 10
    non_hdl = (profile.total_cholesterol - profile.hdl) * MG_DL_TO_MMOL_L - 3.5
    hdl = (profile.hdl * MG_DL_TO_MMOL_L - 1.3) / 0.3
    sbp_low = (min(profile.systolic, 110) - 110) / 20
    sbp_high = (max(profile.systolic, 110) - 130) / 20
    egfr_low = (min(profile.egfr, 60) - 60) / -15
    egfr_high = (max(profile.egfr, 60) - 90) / -15
    bmi_low = bmi_high = 0.0
    if profile.bmi is not None:
        bmi_low = (min(profile.bmi, 30) - 25) / 5
        bmi_high = (max(profile.bmi, 30) - 30) / 5
    diabetes, smoker = float(profile.diabetes), float(profile.smoker)
    treated, statin = float(profile.treated), float(profile.statin)
    x = (
        c.constant
        + c.age * age
        + c.non_hdl * non_hdl
        + c.hdl * hdl
        + c.sbp_low * sbp_low
        + c.sbp_high * sbp_high
        + c.diabetes * diabetes
        + c.smoker * smoker
        + c.egfr_low * egfr_low
        + c.egfr_high * egfr_high
        + c.bmi_low * bmi_low
        + c.bmi_high * bmi_high
        + c.treated * treated
        + c.statin * statin
        + c.sbp_high_x_treated * sbp_high * treated
        + c.non_hdl_x_statin * non_hdl * statin
        + age * (c.age_x_non_hdl * non_hdl + c.age_x_hdl * hdl + c.age_x_sbp_high * sbp_high)
        + age * (c.age_x_diabetes * diabetes + c.age_x_smoker * smoker + c.age_x_egfr_low * egfr_low)
        + age * c.age_x_bmi_high * bmi_high
    )
    return 1.0 / (1.0 + math.exp(-x))


def _egfr(reading: Reading) -> float | None:
    """The eGFR all checks read (`kidney_function`), refused outside the equation's range."""
    kidney = kidney_function(reading.facts)
    if isinstance(kidney, str):
        reading.missing.append(kidney)
        return None
    for ignored in kidney.ignored:
        reading.note("eGFR ignored", ignored)
    shown = f"{kidney.value:.0f} mL/min/1.73 m² {kidney.said}"
    if kidney.value not in EGFR_RANGE:
        reading.missing.append(f"eGFR {shown} is outside {EGFR_RANGE.words()}")
        return None
    reading.note("eGFR", shown, kidney.source)
    return kidney.value


class Prevent:
    """10-year total CVD risk by PREVENT, with ASCVD and heart failure beside it."""

    id = "prevent-cvd-10y"
    title = "10-year cardiovascular risk (AHA PREVENT)"
    version = VERSION
    citation = (
        "Khan SS, Matsushita K, Sang Y, et al. Development and validation of the American Heart Association's "
        "Predicting Risk of cardiovascular disease EVENTs (PREVENT) equations. Circulation 2024;149:430-49."
    )
    url = "https://doi.org/10.1161/CIRCULATIONAHA.123.067626"
    observation = False
    probability = True  # its value is a probability: a RiskAssessment's probabilityDecimal (`insight._assessments`)

    def assess(self, facts: Facts) -> Result:
        """10-year total CVD risk (ASCVD and heart failure in the display), or every gap in the inputs."""
        reading = Reading(facts)
        _cv.known_disease(reading, (*_cv.ASCVD, ("heart failure", _codes.HEART_FAILURE)), "CVD")
        profile = _cv.read_profile(reading, AGES, statin=True)
        kidney = _egfr(reading)
        bmi = reading.measurement("body mass index", [BODY_MASS_INDEX], ONE_YEAR, BMI_RANGE, required=False)
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        # Every gap is in `refused`.
        assert profile is not None
        assert kidney is not None
        profile = replace(profile, egfr=kidney, bmi=None if bmi is None else bmi.value)
        value = risk(profile, CVD)
        parts = [f"ASCVD {percent(risk(profile, ASCVD))}"]
        if profile.bmi is None:
            parts.append(f"heart failure not computed: no usable body mass index {ONE_YEAR.words}")
        else:
            parts.append(f"heart failure {percent(risk(profile, HEART_FAILURE))}")
        return _cv.assessment(
            self,
            value,
            f"{percent(value)} 10-year total CVD risk ({'; '.join(parts)})",
            reading,
            "10-year total CVD risk 7.5 % or more: the PREVENT threshold for treating stage 1 hypertension "
            "(2025 AHA/ACC high blood pressure guideline)",
            _cv.lowerings(profile, lambda p: risk(p, CVD)),
        )


PREVENT = Prevent()
