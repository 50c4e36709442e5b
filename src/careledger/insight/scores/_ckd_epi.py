"""The CKD-EPI 2021 creatinine equation (race-free): eGFR from serum creatinine, age and sex, staged by KDIGO.

Source: Inker LA, Eneanya ND, Coresh J, et al. New creatinine- and cystatin C-based equations to estimate GFR
without race. N Engl J Med 2021;385:1737-49, Table 2 ("2021 CKD-EPI creatinine"):

    eGFR = 142 * min(Scr/kappa, 1)^alpha * max(Scr/kappa, 1)^-1.200 * 0.9938^age * 1.012 [female]
    kappa = 0.7 (female), 0.9 (male); alpha = -0.241 (female), -0.302 (male); Scr in mg/dL.

Stages: KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of CKD, GFR categories G1-G5.
Look-back: the newest creatinine of the last year (kidney function is what renal dosing reads, and a year-old value
is the oldest a dosing decision should lean on).

`kidney_function` is the one rule by which everything else reads eGFR (PREVENT's input, the order checks' renal
rules): the newest of a reported eGFR and one computed from a creatinine, in the last year, a value outside
`EGFR_PLAUSIBLE` ignored and said.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from careledger.insight._model import LOINC, Assessment, Code, Facts, Measurement, Result, Sex
from careledger.insight.knowledge import EGFR
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

# Not the paper's: an eGFR at or below 0 or above 200 mL/min/1.73 m² is an error in the record, not a kidney.
EGFR_PLAUSIBLE = Bounds(0.001, 200, "mL/min/1.73 m²")

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


@dataclass(frozen=True, slots=True)
class KidneyFunction:
    """The eGFR read for a patient: its value, where it came from in words as they follow the value ("on
    2026-01-02" when reported, "(CKD-EPI 2021 from creatinine 1.5 mg/dL on 2026-01-02)" when computed), the
    Observation read (an eGFR or a creatinine), and the values ignored."""

    value: float
    said: str
    source: str
    ignored: tuple[str, ...] = ()


def kidney_function(facts: Facts) -> KidneyFunction | str:
    """The newest eGFR of the last year: a reported one (CKD-EPI 2021, 2009 or MDRD), or CKD-EPI 2021 computed
    from a newer serum creatinine of an adult of known sex; a value outside the plausible range is ignored. The
    sentence saying why there is none otherwise."""
    ignored: list[str] = []
    reported = _plausible(_newest_first(facts, EGFR), "eGFR", ignored)
    creatinine = facts.latest(CREATININE, within=ONE_YEAR.span)
    computed = None
    if creatinine is not None and (reported is None or creatinine.when > reported.when):
        computed = _computed(facts, creatinine, ignored)
    if computed is not None:
        return replace(computed, ignored=tuple(ignored))
    if reported is not None:
        said = f"on {reported.when.isoformat()}"
        return KidneyFunction(reported.value, said, reported.source, tuple(ignored))
    if not ignored:
        return f"no eGFR or serum creatinine {ONE_YEAR.words}"
    return f"no usable eGFR or serum creatinine {ONE_YEAR.words} ({'; '.join(ignored)})"


def _newest_first(facts: Facts, codes: tuple[Code, ...]) -> list[Measurement]:
    found = [m for code in codes for m in facts.measurements.get(code, ()) if facts.on - m.when <= ONE_YEAR.span]
    return sorted(found, key=lambda m: m.when, reverse=True)


def _plausible(found: list[Measurement], label: str, ignored: list[str]) -> Measurement | None:
    """The newest plausible eGFR; each newer implausible one is said in `ignored`."""
    for measurement in found:
        if measurement.value in EGFR_PLAUSIBLE:
            return measurement
        ignored.append(
            f"{label} {measurement.value:g} on {measurement.when.isoformat()} ({measurement.source}) is outside "
            f"{EGFR_PLAUSIBLE.words()}: not used"
        )
    return None


def _computed(facts: Facts, creatinine: Measurement, ignored: list[str]) -> KidneyFunction | None:
    """CKD-EPI 2021 from `creatinine`, when it can be computed and is plausible (else why not, in `ignored`)."""
    taken = f"serum creatinine {creatinine.value:g} mg/dL on {creatinine.when.isoformat()}"
    if creatinine.value not in CREATININE_RANGE:
        ignored.append(f"{taken} is outside {CREATININE_RANGE.words()}: not used")
        return None
    age, sex = facts.age, facts.sex
    if age is None or age not in ADULT or sex is None:
        ignored.append(f"{taken}: CKD-EPI needs an adult's age and sex")
        return None
    value = egfr(creatinine.value, age, sex)
    if value not in EGFR_PLAUSIBLE:
        ignored.append(f"eGFR {value:.0f} from {taken} is outside {EGFR_PLAUSIBLE.words()}: not used")
        return None
    said = f"(CKD-EPI 2021 from creatinine {creatinine.value:g} mg/dL on {creatinine.when.isoformat()})"
    return KidneyFunction(value, said, creatinine.source)


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
