"""HAS-BLED: the one-year risk of major bleeding of a patient with atrial fibrillation on anticoagulation, in points,
with what would lower it (the items a clinician can change: blood pressure, INR control, drugs, alcohol).

Source: Pisters R, Lane DA, Nieuwlaat R, de Vos CB, Crijns HJGM, Lip GYH. A novel user-friendly score (HAS-BLED)
to assess 1-year risk of major bleeding in patients with atrial fibrillation: the Euro Heart Survey. Chest
2010;138:1093-100 (Table 2: the items; Table 3: bleeds per 100 patient-years by score).

How the record answers each item:
- H: the newest systolic blood pressure of the last year above 160 mmHg (required: no pressure, no score).
- A: renal: chronic dialysis, a kidney transplant or end-stage renal disease on the problem list, or the newest
  serum creatinine of the last year >= 200 µmol/L (2.262 mg/dL); a missing creatinine leaves the problem list to
  answer. Liver: chronic liver disease (cirrhosis) on the problem list; the paper's biochemical criterion needs
  each laboratory's upper limits of normal, which Facts does not carry, so it is not read.
- S: stroke on the problem list. B: bleeding history or predisposition on the problem list.
- L: labile INR, the paper's time in therapeutic range (TTR) < 60 %. No code carries a TTR, so it is estimated as
  the share of the last 6 months' INRs (LOINC 6301-6, 34714-6, 46418-0) within 2.0-3.0; it applies only to a
  patient on a vitamin K antagonist (ATC B01AA), and fewer than 3 INRs in 6 months is a gap, not a guess.
- E: age over 65. D: an antiplatelet (ATC B01AC) or NSAID (ATC M01A) on the medication list (1 point), and an
  alcohol use disorder on the problem list (1 point), the record's nearest to ">= 8 drinks a week".
"""

from __future__ import annotations

from datetime import timedelta

from careledger.insight._model import LOINC, Assessment, Code, Facts, Input, Lowering, Result
from careledger.insight.scores import _codes as codes
from careledger.insight.scores._points import award, plural
from careledger.insight.scores._reading import (
    CREATININE,
    CREATININE_UMOL_L_PER_MG_DL,
    ONE_YEAR,
    SYSTOLIC_BP,
    Bounds,
    Reading,
)

VERSION = "HAS-BLED (Pisters 2010)"

# Pisters 2010, Table 2: one point each.
UNCONTROLLED_HYPERTENSION_ABOVE = 160  # mmHg systolic
# The paper's 200 µmol/L in mg/dL, exactly as the gatherer converts it (2.2619...: 2.26 mg/dL is 199.8 µmol/L).
ABNORMAL_RENAL_CREATININE_FROM = 200 / CREATININE_UMOL_L_PER_MG_DL
ELDERLY_ABOVE = 65  # years
LABILE_TTR_BELOW = 0.60
POINT = 1

# Pisters 2010, Table 3: major bleeds per 100 patient-years by score (6-9 too few patients to say).
BLEEDS_PER_100_PATIENT_YEARS = {0: 1.13, 1: 1.02, 2: 1.88, 3: 3.74, 4: 8.70, 5: 12.50}
HIGH_FROM = 3

INR = (Code(LOINC, "6301-6"), Code(LOINC, "34714-6"), Code(LOINC, "46418-0"))
INR_RANGE = (2.0, 3.0)
INR_WINDOW = timedelta(days=183)
INR_MINIMUM = 3
ANTIPLATELETS_AND_NSAIDS = codes.ANTIPLATELETS + codes.NSAIDS

ADULT = Bounds(18, 130, "years")
SYSTOLIC_RANGE = Bounds(60, 300, "mmHg")
CREATININE_RANGE = Bounds(0.1, 40, "mg/dL")


class HasBled:
    """HAS-BLED as a RiskAssessment: 0-9 points, high from 3."""

    id = "has-bled"
    title = "HAS-BLED (bleeding risk on anticoagulation)"
    version = VERSION
    citation = (
        "Pisters R, Lane DA, Nieuwlaat R, de Vos CB, Crijns HJGM, Lip GYH. A novel user-friendly score (HAS-BLED) "
        "to assess 1-year risk of major bleeding in patients with atrial fibrillation: the Euro Heart Survey. "
        "Chest 2010;138:1093-100."
    )
    url = "https://doi.org/10.1378/chest.10-0134"
    observation = False

    def assess(self, facts: Facts) -> Result:
        """The points, the band with Table 3's bleeding rate, and what would lower them."""
        reading = Reading(facts)
        lowering: list[tuple[str, int]] = []
        systolic = reading.measurement("systolic blood pressure", [SYSTOLIC_BP], ONE_YEAR, SYSTOLIC_RANGE)
        hypertension = 0
        if systolic is not None:
            hypertension = award(reading, POINT if systolic.value > UNCONTROLLED_HYPERTENSION_ABOVE else 0)
            if hypertension:
                lowering.append(("Systolic blood pressure at or below 160 mmHg", hypertension))
        renal = award(reading, POINT if _renal(reading) else 0)
        liver = award(
            reading,
            POINT
            if reading.finding("Chronic liver disease", facts.conditions, codes.LIVER_DISEASE.__contains__)
            else 0,
        )
        stroke = award(reading, POINT if reading.finding("Stroke", facts.conditions, codes.STROKE.__contains__) else 0)
        bleeding = award(
            reading,
            POINT
            if reading.finding(
                "Bleeding history or predisposition", facts.conditions, codes.MAJOR_BLEEDING.__contains__
            )
            else 0,
        )
        labile = _labile_inr(reading)
        if labile:
            lowering.append(("INR in range (2.0-3.0) at least 60 % of the time", labile))
        age = reading.age(ADULT)
        elderly = award(reading, POINT if age > ELDERLY_ABOVE else 0) if age is not None else 0
        drug = codes.on_medication(facts, ANTIPLATELETS_AND_NSAIDS)
        reading.inputs.append(Input("Antiplatelet or NSAID", "yes" if drug else "no", drug.source if drug else None))
        drugs = award(reading, POINT if drug else 0)
        if drugs:
            lowering.append(("Stop the antiplatelet or NSAID unless it is needed", drugs))
        alcohol = reading.finding("Alcohol use disorder", facts.conditions, codes.ALCOHOL_USE_DISORDER.__contains__)
        drinking = award(reading, POINT if alcohol else 0)
        if drinking:
            lowering.append(("Alcohol below 8 drinks a week", drinking))
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        total = hypertension + renal + liver + stroke + bleeding + labile + elderly + drugs + drinking
        return _assessment(self, total, tuple(reading.inputs), lowering)


def _renal(reading: Reading) -> bool:
    """Dialysis, transplant or end-stage disease on the problem list, or a creatinine >= 200 µmol/L this year."""
    facts = reading.facts
    condition = facts.has(facts.conditions, codes.RENAL_DISEASE)
    creatinine = facts.latest(CREATININE, within=ONE_YEAR.span)
    if creatinine is not None and creatinine.value not in CREATININE_RANGE:
        creatinine = None
    high = creatinine is not None and creatinine.value >= ABNORMAL_RENAL_CREATININE_FROM
    if condition is not None:
        reading.inputs.append(Input("Abnormal renal function", "yes: dialysis, transplant or ESRD", condition.source))
    elif creatinine is not None:
        shown = f"{'yes' if high else 'no'}: creatinine {creatinine.value:g} mg/dL on {creatinine.when.isoformat()}"
        reading.inputs.append(Input("Abnormal renal function", shown, creatinine.source))
    else:
        reading.inputs.append(
            Input("Abnormal renal function", "no on the problem list (no creatinine in the last year)")
        )
    return condition is not None or high


def _labile_inr(reading: Reading) -> int:
    """1 when on a vitamin K antagonist and under 60 % of the last 6 months' INRs were in range; a gap when too few."""
    facts = reading.facts
    vka = codes.on_medication(facts, codes.VITAMIN_K_ANTAGONISTS)
    if vka is None:
        reading.inputs.append(Input("Labile INR", "no (not on a vitamin K antagonist): 0 points", None))
        return 0
    inrs = [m for code in INR for m in facts.measurements.get(code, ()) if facts.on - m.when <= INR_WINDOW]
    if len(inrs) < INR_MINIMUM:
        reading.missing.append(
            f"fewer than {INR_MINIMUM} INR results in the last 6 months on a vitamin K antagonist (labile INR)"
        )
        return 0
    low, high = INR_RANGE
    share = sum(low <= m.value <= high for m in inrs) / len(inrs)
    labile = POINT if share < LABILE_TTR_BELOW else 0
    shown = f"{'yes' if labile else 'no'}: {share:.0%} of {len(inrs)} INRs in range in 6 months: {plural(labile)}"
    reading.inputs.append(Input("Labile INR", shown, vka.source))
    return labile


def _assessment(score: HasBled, total: int, inputs: tuple[Input, ...], lowering: list[tuple[str, int]]) -> Assessment:
    band = "high" if total >= HIGH_FROM else "moderate" if total == 2 else "low"
    rate = BLEEDS_PER_100_PATIENT_YEARS.get(total)
    rate_words = f"{rate:.2f} major bleeds per 100 patient-years" if rate is not None else "too few patients to say"
    alert = total >= HIGH_FROM
    return Assessment(
        score=score.id,
        version=score.version,
        value=float(total),
        display=f"HAS-BLED {total} of 9 ({band} bleeding risk; {rate_words} in the Euro Heart Survey)",
        band=band,
        inputs=inputs,
        alert=alert,
        why=f"HAS-BLED {total} (>= {HIGH_FROM}): high bleeding risk; correct what can be changed and review "
        "often (not by itself a reason to withhold anticoagulation)"
        if alert
        else "",
        lowering=tuple(Lowering(change, float(total - points)) for change, points in lowering),
    )


HAS_BLED = HasBled()
