"""The CKD-EPI 2021 creatinine equation (race-free): eGFR from serum creatinine, age and sex, staged by KDIGO.

Source: Inker LA, Eneanya ND, Coresh J, et al. New creatinine- and cystatin C-based equations to estimate GFR
without race. N Engl J Med 2021;385:1737-49, Table 2 ("2021 CKD-EPI creatinine"):

    eGFR = 142 * min(Scr/kappa, 1)^alpha * max(Scr/kappa, 1)^-1.200 * 0.9938^age * 1.012 [female]
    kappa = 0.7 (female), 0.9 (male); alpha = -0.241 (female), -0.302 (male); Scr in mg/dL.

Stages: KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of CKD, GFR categories G1-G5.
Look-back: the newest creatinine of the last year (kidney function is what renal dosing reads, and a year-old value
is the oldest a dosing decision should lean on; the order checks read eGFR over the same year).
"""

from __future__ import annotations

from careledger.insight._model import LOINC, Assessment, Code, Facts, Result, Sex
from careledger.insight.scores._reading import CREATININE, ONE_YEAR, Bounds, Reading

VERSION = "CKD-EPI 2021 creatinine (Inker 2021)"

MULTIPLIER = 142.0
KAPPA: dict[Sex, float] = {"female": 0.7, "male": 0.9}
ALPHA: dict[Sex, float] = {"female": -0.241, "male": -0.302}
ABOVE_KAPPA_EXPONENT = -1.200
AGE_BASE = 0.9938
FEMALE_FACTOR = 1.012

# The equation was developed and validated in adults; there is no upper age limit.
ADULT = Bounds(18, 130, "years")
# Not the paper's: plausibility bounds, outside which a value is far more likely a unit error than a patient.
CREATININE_RANGE = Bounds(0.1, 40, "mg/dL")

# KDIGO GFR categories, lower bound first match (mL/min/1.73 m²).
STAGES: tuple[tuple[float, str, str], ...] = (
    (90, "G1", "normal or high"),
    (60, "G2", "mildly decreased"),
    (45, "G3a", "mildly to moderately decreased"),
    (30, "G3b", "moderately to severely decreased"),
    (15, "G4", "severely decreased"),
    (0, "G5", "kidney failure"),
)
# Below G2 is CKD by GFR alone when it lasts more than 3 months (KDIGO).
ALERT_BELOW = 60.0


def egfr(creatinine_mg_dl: float, age: int, sex: Sex) -> float:
    """eGFR in mL/min/1.73 m² by the 2021 equation (no race term)."""
    ratio = creatinine_mg_dl / KAPPA[sex]
    value = (
        MULTIPLIER
        * min(ratio, 1.0) ** ALPHA[sex]
        * max(ratio, 1.0) ** ABOVE_KAPPA_EXPONENT
        * AGE_BASE**age
        * (FEMALE_FACTOR if sex == "female" else 1.0)
    )
    return float(value)


def stage(value: float) -> tuple[str, str]:
    """The KDIGO category of an eGFR and its words."""
    return next((name, words) for low, name, words in STAGES if value >= low)


class CkdEpi2021:
    """eGFR as an Observation (LOINC 98979-8), derived from the creatinine it names."""

    id = "ckd-epi-2021"
    title = "eGFR (CKD-EPI 2021 creatinine, race-free)"
    version = VERSION
    citation = (
        "Inker LA, Eneanya ND, Coresh J, et al. New creatinine- and cystatin C-based equations to estimate GFR "
        "without race. N Engl J Med 2021;385:1737-49."
    )
    url = "https://www.kidney.org/ckd-epi-creatinine-equation-2021"
    observation = True
    # The Observation's code and UCUM unit when written (not part of the Score protocol).
    code = Code(LOINC, "98979-8")
    unit = "mL/min/{1.73_m2}"

    def assess(self, facts: Facts) -> Result:
        """eGFR and its KDIGO stage from the newest creatinine of the last year, or what is missing."""
        reading = Reading(facts)
        age = reading.age(ADULT)
        sex = reading.sex()
        creatinine = reading.measurement("serum creatinine", CREATININE, ONE_YEAR, CREATININE_RANGE)
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        # Every gap is in `refused`.
        assert age is not None
        assert sex is not None
        assert creatinine is not None
        value = egfr(creatinine.value, age, sex)
        band, words = stage(value)
        alert = value < ALERT_BELOW
        return Assessment(
            score=self.id,
            version=self.version,
            value=value,
            display=f"eGFR {value:.0f} mL/min/1.73 m² ({band}, {words})",
            band=band,
            inputs=tuple(reading.inputs),
            alert=alert,
            why=f"eGFR below {ALERT_BELOW:.0f} mL/min/1.73 m²: KDIGO {band}, CKD if it lasts over 3 months"
            if alert
            else "",
        )


CKD_EPI = CkdEpi2021()
