"""The 2013 ACC/AHA Pooled Cohort Equations: 10-year risk of a first hard ASCVD event (coronary death, non-fatal
myocardial infarction, fatal or non-fatal stroke).

Source: Goff DC Jr, Lloyd-Jones DM, Bennett G, et al. 2013 ACC/AHA guideline on the assessment of cardiovascular
risk. Circulation 2014;129(25 Suppl 2):S49-73, Table A (equation parameters, race- and sex-specific):

    risk = 1 - S₁₀ ^ exp(Σ βᵢxᵢ - mean(Σ βᵢxᵢ)),   x = ln age, ln total-C, ln HDL-C, ln SBP (treated or not), …

Race: the US Core race extension's OMB category 2054-5 (Black or African American) selects the African American
equations; every other category (2106-3 White, and the others for which Goff et al. advise the white equations)
and an unrecorded race select the white ones, and the Input says which and why. Ranges: age 40-79, total
cholesterol 130-320 mg/dL, HDL 20-100 mg/dL, systolic 90-200 mmHg; outside them nothing is computed. Bands and the
7.5 % threshold: 2018 AHA/ACC guideline on the management of blood cholesterol (Grundy et al., Circulation 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from careledger.insight._model import Code, Facts, Result, Sex
from careledger.insight.scores import _cv
from careledger.insight.scores._reading import Bounds, Reading, percent

VERSION = "ACC/AHA Pooled Cohort Equations 2013 (Goff 2014, Table A)"
AGES = Bounds(40, 79, "years")

OMB_RACE = "urn:oid:2.16.840.1.113883.6.238"
BLACK = Code(OMB_RACE, "2054-5")
WHITE = Code(OMB_RACE, "2106-3")


@dataclass(frozen=True, slots=True)
class Coefficients:
    """One column of Goff 2013 Table A (zero where the table has none)."""

    ln_age: float
    ln_age_squared: float
    ln_total_cholesterol: float
    ln_age_x_ln_total_cholesterol: float
    ln_hdl: float
    ln_age_x_ln_hdl: float
    ln_treated_sbp: float
    ln_age_x_ln_treated_sbp: float
    ln_untreated_sbp: float
    ln_age_x_ln_untreated_sbp: float
    smoker: float
    ln_age_x_smoker: float
    diabetes: float
    baseline_survival: float
    mean: float


WHITE_FEMALE = Coefficients(
    -29.799, 4.884, 13.540, -3.114, -13.578, 3.149, 2.019, 0.0, 1.957, 0.0, 7.574, -1.665, 0.661, 0.9665, -29.18
)
AFRICAN_AMERICAN_FEMALE = Coefficients(
    17.114, 0.0, 0.940, 0.0, -18.920, 4.475, 29.291, -6.432, 27.820, -6.087, 0.691, 0.0, 0.874, 0.9533, 86.61
)
WHITE_MALE = Coefficients(
    12.344, 0.0, 11.853, -2.664, -7.990, 1.769, 1.797, 0.0, 1.764, 0.0, 7.837, -1.795, 0.658, 0.9144, 61.18
)
AFRICAN_AMERICAN_MALE = Coefficients(
    2.469, 0.0, 0.302, 0.0, -0.307, 0.0, 1.916, 0.0, 1.809, 0.0, 0.549, 0.0, 0.645, 0.8954, 19.54
)
EQUATIONS: dict[tuple[bool, Sex], Coefficients] = {
    (False, "female"): WHITE_FEMALE,
    (True, "female"): AFRICAN_AMERICAN_FEMALE,
    (False, "male"): WHITE_MALE,
    (True, "male"): AFRICAN_AMERICAN_MALE,
}


def risk(profile: _cv.Profile, *, african_american: bool) -> float:
    """10-year ASCVD risk (a fraction) by the equation of the profile's sex and the given race."""
    c = EQUATIONS[(african_american, profile.sex)]
    return float(1.0 - c.baseline_survival ** math.exp(_individual_sum(profile, c) - c.mean))


def _individual_sum(profile: _cv.Profile, c: Coefficients) -> float:
    """Σ βᵢxᵢ, what Table A's worked example calls the "individual sum"."""
    ln_age = math.log(profile.age)
    ln_total = math.log(profile.total_cholesterol)
    ln_hdl = math.log(profile.hdl)
    ln_sbp = math.log(profile.systolic)
    smoker = 1.0 if profile.smoker else 0.0
    if profile.treated:
        pressure = c.ln_treated_sbp * ln_sbp + c.ln_age_x_ln_treated_sbp * ln_age * ln_sbp
    else:
        pressure = c.ln_untreated_sbp * ln_sbp + c.ln_age_x_ln_untreated_sbp * ln_age * ln_sbp
    return (
        c.ln_age * ln_age
        + c.ln_age_squared * ln_age**2
        + c.ln_total_cholesterol * ln_total
        + c.ln_age_x_ln_total_cholesterol * ln_age * ln_total
        + c.ln_hdl * ln_hdl
        + c.ln_age_x_ln_hdl * ln_age * ln_hdl
        + pressure
        + c.smoker * smoker
        + c.ln_age_x_smoker * ln_age * smoker
        + c.diabetes * (1.0 if profile.diabetes else 0.0)
    )


def _race(reading: Reading) -> bool:
    """Whether the African American equations apply, said as an Input."""
    race = reading.facts.race
    if BLACK in race:
        reading.note("Race (equations used)", "Black or African American (African American equations)")
        return True
    if WHITE in race:
        reading.note("Race (equations used)", "White (white equations)")
    elif race:
        reading.note("Race (equations used)", "other than White or Black (white equations, as Goff 2013 advises)")
    else:
        reading.note("Race (equations used)", "not recorded (white equations; may underestimate for Black patients)")
    return False


class PooledCohortEquations:
    """10-year ASCVD risk, for people 40-79 without known atherosclerotic disease."""

    id = "pce-ascvd-10y"
    title = "10-year ASCVD risk (Pooled Cohort Equations)"
    version = VERSION
    citation = (
        "Goff DC Jr, Lloyd-Jones DM, Bennett G, et al. 2013 ACC/AHA guideline on the assessment of cardiovascular "
        "risk. Circulation 2014;129(25 Suppl 2):S49-73."
    )
    url = "https://doi.org/10.1161/01.cir.0000437741.48606.98"
    observation = False
    probability = True  # its value is a probability: a RiskAssessment's probabilityDecimal (`insight._assessments`)

    def assess(self, facts: Facts) -> Result:
        """10-year ASCVD risk by the equations of the patient's sex and race, or every gap in the inputs."""
        reading = Reading(facts)
        _cv.known_disease(reading, _cv.ASCVD, "ASCVD")
        profile = _cv.read_profile(reading, AGES, statin=False)
        african_american = _race(reading)
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        assert profile is not None  # every gap is in `refused`
        value = risk(profile, african_american=african_american)
        return _cv.assessment(
            self,
            value,
            f"{percent(value)} 10-year ASCVD risk",
            reading,
            "10-year ASCVD risk 7.5 % or more: a statin is recommended after a risk discussion "
            "(2018 ACC/AHA cholesterol guideline)",
            _cv.lowerings(profile, lambda p: risk(p, african_american=african_american)),
        )


PCE = PooledCohortEquations()
