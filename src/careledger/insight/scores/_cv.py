"""The cardiovascular risk factors both 10-year equations (Pooled Cohort, PREVENT) read, and what would lower them.

Both equations take the same core: age, sex, total and HDL cholesterol (the last 5 years), systolic pressure (the
last year), current smoking (the newest recorded status), diabetes (on the problem list), and treatment for
hypertension (a medication of ATC C02, C03, C07, C08 or C09); PREVENT adds statin use (C10AA), eGFR and BMI. Both
are for primary prevention: someone with known atherosclerotic disease is refused, not scored.

"What would lower it" recomputes the same equation with one factor changed, as the ACC ASCVD Risk Estimator Plus
does: systolic 120 mmHg on treatment, no smoking, and the optimal cholesterol of Goff et al. (total 170 mg/dL,
HDL 50 mg/dL). A change that would not lower the risk is not offered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from careledger.insight._model import Assessment, Code, Finding, Lowering, Score, Sex
from careledger.insight.scores import _codes
from careledger.insight.scores._reading import (
    HDL_CHOLESTEROL,
    LIPIDS,
    ONE_YEAR,
    SYSTOLIC_BP,
    TOTAL_CHOLESTEROL,
    Bounds,
    Reading,
)

# The ranges both equations were derived on and their calculators accept (Goff 2013; Khan 2024).
TOTAL_CHOLESTEROL_RANGE = Bounds(130, 320, "mg/dL")
HDL_RANGE = Bounds(20, 100, "mg/dL")
SYSTOLIC_RANGE = Bounds(90, 200, "mmHg")

# WHO ATC: HMG-CoA reductase inhibitors (antihypertensives are the shared `_codes.ANTIHYPERTENSIVES`).
STATIN_ATC = ("C10AA",)

# Goff et al. 2013, "optimal risk factors"; the 2017 ACC/AHA blood pressure guideline's target.
OPTIMAL_TOTAL_CHOLESTEROL = 170.0
OPTIMAL_HDL = 50.0
TARGET_SYSTOLIC = 120.0

SMOKING_ANSWERS = _codes.CURRENT_SMOKER | _codes.FORMER_SMOKER | _codes.NEVER_SMOKER


@dataclass(frozen=True, slots=True)
class Profile:
    """One patient's risk factors as the equations take them (mg/dL, mmHg, mL/min/1.73 m², kg/m²)."""

    age: int
    sex: Sex
    total_cholesterol: float
    hdl: float
    systolic: float
    smoker: bool
    diabetes: bool
    treated: bool
    statin: bool = False
    egfr: float | None = None
    bmi: float | None = None


def known_disease(reading: Reading, sets: Iterable[tuple[str, frozenset[Code]]], disease: str) -> None:
    """Refuse a patient who already has the disease the equation predicts (`disease`, as a reader says it): it is
    for primary prevention, and her risk is not what it estimates."""
    for words, codes in sets:
        found: Finding | None = reading.facts.has(reading.facts.conditions, codes)
        if found is not None:
            reading.missing.append(f"not for patients with known {disease}: {words} ({found.source})")


# Clinical ASCVD as Goff 2013 and the 2018 cholesterol guideline define it: acute coronary syndrome or a past MI,
# stable or unstable angina, coronary or other arterial revascularisation, stroke, TIA, and atherosclerotic
# peripheral artery disease.
ASCVD = (
    ("myocardial infarction", _codes.MYOCARDIAL_INFARCTION),
    ("coronary heart disease, angina or coronary revascularisation", _codes.CORONARY_HEART_DISEASE),
    ("stroke", _codes.STROKE),
    ("transient ischaemic attack", _codes.TIA),
    ("peripheral artery disease", _codes.PERIPHERAL_ARTERY_DISEASE),
)


def read_profile(reading: Reading, ages: Bounds, *, statin: bool) -> Profile | None:
    """Read the shared factors; None when any is missing or out of range (the gaps are in `reading.missing`)."""
    age = reading.age(ages)
    sex = reading.sex()
    total = reading.measurement("total cholesterol", [TOTAL_CHOLESTEROL], LIPIDS, TOTAL_CHOLESTEROL_RANGE)
    hdl = reading.measurement("HDL cholesterol", [HDL_CHOLESTEROL], LIPIDS, HDL_RANGE)
    systolic = reading.measurement("systolic blood pressure", [SYSTOLIC_BP], ONE_YEAR, SYSTOLIC_RANGE)
    smoker = reading.status("smoking status", "Current smoker", SMOKING_ANSWERS, _codes.CURRENT_SMOKER)
    facts = reading.facts
    diabetes = reading.finding("Diabetes", facts.conditions, _codes.DIABETES.__contains__)
    treated = reading.finding(
        "Treated for high blood pressure", facts.medications, _codes.of_class(_codes.ANTIHYPERTENSIVES)
    )
    on_statin = reading.finding("On a statin", facts.medications, _codes.of_class(STATIN_ATC)) if statin else None
    if age is None or sex is None or total is None or hdl is None or systolic is None or reading.missing:
        return None
    return Profile(
        age=age,
        sex=sex,
        total_cholesterol=total.value,
        hdl=hdl.value,
        systolic=systolic.value,
        smoker=smoker is not None,
        diabetes=diabetes is not None,
        treated=treated is not None,
        statin=on_statin is not None,
    )


def lowerings(profile: Profile, risk: Callable[[Profile], float]) -> tuple[Lowering, ...]:
    """Each single change that would lower `risk`, with the risk recomputed."""
    now = risk(profile)
    changes: list[tuple[str, Profile]] = []
    if profile.systolic > TARGET_SYSTOLIC:
        changes.append(
            (
                f"systolic blood pressure {profile.systolic:g} → {TARGET_SYSTOLIC:g} mmHg on treatment",
                replace(profile, systolic=TARGET_SYSTOLIC, treated=True),
            )
        )
    if profile.smoker:
        changes.append(("stop smoking", replace(profile, smoker=False)))
    if profile.total_cholesterol > OPTIMAL_TOTAL_CHOLESTEROL or profile.hdl < OPTIMAL_HDL:
        total = min(profile.total_cholesterol, OPTIMAL_TOTAL_CHOLESTEROL)
        hdl = max(profile.hdl, OPTIMAL_HDL)
        changes.append(
            (
                f"total cholesterol {total:g} mg/dL and HDL cholesterol {hdl:g} mg/dL",
                replace(profile, total_cholesterol=total, hdl=hdl),
            )
        )
    found = ((words, risk(changed)) for words, changed in changes)
    return tuple(Lowering(words, value) for words, value in found if value < now)


# The categories of the 2018 ACC/AHA cholesterol guideline for 10-year risk, lower bound first match.
BANDS: tuple[tuple[float, str], ...] = ((0.20, "high"), (0.075, "intermediate"), (0.05, "borderline"), (0.0, "low"))
# At 7.5 % or more a moderate-intensity statin is recommended after a risk discussion (2018 guideline, I).
ALERT_AT = 0.075


def band(risk: float) -> str:
    """The guideline's category of a 10-year risk."""
    return next(name for low, name in BANDS if risk >= low)


def assessment(
    score: Score, value: float, display: str, reading: Reading, why: str, lowering: tuple[Lowering, ...]
) -> Assessment:
    """A 10-year risk as both equations answer it: banded by the 2018 guideline, alerting (with `why`) at 7.5 %."""
    alert = value >= ALERT_AT
    return Assessment(
        score=score.id,
        version=score.version,
        value=value,
        display=display,
        band=band(value),
        inputs=tuple(reading.inputs),
        alert=alert,
        why=why if alert else "",
        lowering=lowering,
    )
