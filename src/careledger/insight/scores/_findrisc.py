"""FINDRISC, the Finnish Diabetes Risk Score: the 10-year risk of type 2 diabetes from eight questions a patient can
answer, in points (0-26), with what would lower it (weight, waist, activity, vegetables).

Source: Lindström J, Tuomilehto J. The diabetes risk score: a practical tool to predict type 2 diabetes risk.
Diabetes Care 2003;26:725-31 (the score sheet, as the Finnish Diabetes Association publishes it, including the
family-history item and the five risk levels).

How the record answers each question:
- BMI: the newest BMI of the last year (LOINC 39156-5), or weight (29463-7) of the last year over the newest
  height (8302-2). Waist: the newest waist circumference of the last year (8280-0), banded by sex.
- Physical activity >= 30 minutes daily: the Exercise Vital Sign of the last year (89555-7 days a week with
  moderate to strenuous exercise, 68516-4 minutes a day: daily means 7 days and >= 30 minutes), or a coded answer
  in the CareLedger FINDRISC code system (`activity-daily` / `activity-not-daily`). Vegetables, fruit or berries
  every day: a coded answer (`vegetables-daily` / `vegetables-not-daily`): no standard code carries either
  question's answer. Both must be recorded: a missing answer is a gap, never a "no".
- Antihypertensive medication: one (ATC C02, C03, C07, C08, C09) on the medication list.
- High blood glucose ever: prediabetes, impaired glucose tolerance or fasting glucose, hyperglycaemia or
  gestational diabetes on the problem list, or any HbA1c >= 5.7 % (4548-4) or fasting glucose >= 100 mg/dL
  (1558-6), the ADA's thresholds for prediabetes.
- Family history: a FamilyMemberHistory of diabetes (the gatherer puts the relative's condition code, or the
  SNOMED "FH: Diabetes mellitus" 160303001, into `answers` with the FamilyMemberHistory as source). The points
  depend on the relative, so the relationship must come with it: a v3-RoleCode answer from the same
  FamilyMemberHistory (parent, sibling, child: 5; grandparent, aunt, uncle, cousin: 3). Without it, a gap.
A patient with diabetes on the problem list is not scored: FINDRISC predicts diabetes in people without it.
"""

from __future__ import annotations

from careledger.insight._model import (
    LOINC,
    Assessment,
    CannotCompute,
    Code,
    Facts,
    Finding,
    Input,
    Lowering,
    Result,
    Sex,
)
from careledger.insight.scores import _codes as codes
from careledger.insight.scores._points import Table, award, points
from careledger.insight.scores._reading import BODY_MASS_INDEX, ONE_YEAR, Bounds, Reading

VERSION = "FINDRISC (Lindström 2003)"
FINDRISC_ANSWERS = "https://careledger.org/fhir/CodeSystem/findrisc"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

OPEN = float("inf")
AGE_POINTS: Table = ((44, 0), (54, 2), (64, 3), (OPEN, 4))
# BMI < 25: 0, 25-30: 1, > 30: 3; waist (cm) men < 94: 0, 94-102: 3, > 102: 4; women < 80: 0, 80-88: 3, > 88: 4.
BMI_OVERWEIGHT_FROM, BMI_OVERWEIGHT = 25.0, 1
BMI_OBESE_ABOVE, BMI_OBESE = 30.0, 3
WAIST_FROM: dict[Sex, tuple[float, float]] = {"male": (94.0, 102.0), "female": (80.0, 88.0)}
WAIST_POINTS = (3, 4)
INACTIVE = 2
NO_DAILY_VEGETABLES = 1
ANTIHYPERTENSIVE = 2
HIGH_GLUCOSE = 5
FIRST_DEGREE = 5
SECOND_DEGREE = 3

# Risk levels of the score sheet: lower bound, name, the share who develop type 2 diabetes in 10 years.
LEVELS = (
    (21, "very high", "1 in 2"),
    (15, "high", "1 in 3"),
    (12, "moderate", "1 in 6"),
    (7, "slightly elevated", "1 in 25"),
    (0, "low", "1 in 100"),
)
ALERT_FROM = 15

WAIST = Code(LOINC, "8280-0")
WEIGHT = Code(LOINC, "29463-7")
HEIGHT = Code(LOINC, "8302-2")
EXERCISE_DAYS = Code(LOINC, "89555-7")
EXERCISE_MINUTES = Code(LOINC, "68516-4")
HBA1C = Code(LOINC, "4548-4")
FASTING_GLUCOSE = Code(LOINC, "1558-6")
PREDIABETES_HBA1C_FROM = 5.7
PREDIABETES_FASTING_FROM = 100.0
DAILY_MINUTES = 30

ACTIVITY = {Code(FINDRISC_ANSWERS, "activity-daily"): True, Code(FINDRISC_ANSWERS, "activity-not-daily"): False}
VEGETABLES = {Code(FINDRISC_ANSWERS, "vegetables-daily"): True, Code(FINDRISC_ANSWERS, "vegetables-not-daily"): False}
FIRST_DEGREE_RELATIVES = frozenset(
    Code(ROLE_CODE, c)
    for c in (
        "PRN",
        "MTH",
        "FTH",
        "NPRN",
        "NMTH",
        "NFTH",
        "SIB",
        "SIS",
        "BRO",
        "NSIB",
        "NSIS",
        "NBRO",
        "TWIN",
        "CHILD",
        "DAU",
        "SON",
        "NCHILD",
        "DAUC",
        "SONC",
    )
)
SECOND_DEGREE_RELATIVES = frozenset(
    Code(ROLE_CODE, c)
    for c in (
        "GRPRN",
        "GRMTH",
        "GRFTH",
        "MGRMTH",
        "MGRFTH",
        "PGRMTH",
        "PGRFTH",
        "AUNT",
        "UNCLE",
        "MAUNT",
        "MUNCLE",
        "PAUNT",
        "PUNCLE",
        "COUSN",
        "MCOUSN",
        "PCOUSN",
    )
)

ADULT = Bounds(18, 130, "years")
BMI_RANGE = Bounds(10, 80, "kg/m²")
WAIST_RANGE = Bounds(40, 250, "cm")
WEIGHT_RANGE = Bounds(20, 400, "kg")
HEIGHT_RANGE = Bounds(100, 250, "cm")


def bmi_points(bmi: float) -> int:
    """Below 25 kg/m²: 0; 25-30: 1; above 30: 3."""
    return BMI_OBESE if bmi > BMI_OBESE_ABOVE else BMI_OVERWEIGHT if bmi >= BMI_OVERWEIGHT_FROM else 0


def waist_points(waist: float, sex: Sex) -> int:
    """Men below 94 cm: 0, 94-102: 3, above 102: 4; women below 80 cm: 0, 80-88: 3, above 88: 4."""
    elevated, high = WAIST_FROM[sex]
    return WAIST_POINTS[1] if waist > high else WAIST_POINTS[0] if waist >= elevated else 0


class Findrisc:
    """FINDRISC as a RiskAssessment: 0-26 points and the score sheet's five risk levels."""

    id = "findrisc"
    title = "FINDRISC (type 2 diabetes risk)"
    version = VERSION
    citation = (
        "Lindström J, Tuomilehto J. The diabetes risk score: a practical tool to predict type 2 diabetes risk. "
        "Diabetes Care 2003;26:725-31."
    )
    url = "https://doi.org/10.2337/diacare.26.3.725"
    observation = False

    def assess(self, facts: Facts) -> Result:
        """The points, risk level and what would lower them; every unanswered question a gap."""
        diabetes = facts.has(facts.conditions, codes.DIABETES)
        if diabetes is not None:
            why = f"diabetes is already on the problem list ({diabetes.source}): FINDRISC screens people without it"
            return CannotCompute(self.id, self.version, (why,))
        reading = Reading(facts)
        scored: dict[str, int] = {}
        age = reading.age(ADULT)
        if age is not None:
            scored["age"] = award(reading, points(age, AGE_POINTS))
        sex = reading.sex()
        bmi = _bmi(reading)
        if bmi is not None:
            scored["bmi"] = award(reading, bmi_points(bmi))
        waist = reading.measurement("waist circumference", [WAIST], ONE_YEAR, WAIST_RANGE)
        if waist is not None and sex is not None:
            scored["waist"] = award(reading, waist_points(waist.value, sex))
        active = _activity(reading)
        if active is not None:
            scored["activity"] = award(reading, 0 if active else INACTIVE)
        vegetables = _answer(reading, "Vegetables, fruit or berries every day", VEGETABLES)
        if vegetables is None:
            reading.missing.append("no answer on eating vegetables, fruit or berries every day in the last year")
        else:
            scored["vegetables"] = award(reading, 0 if vegetables else NO_DAILY_VEGETABLES)
        drug = codes.on_medication(facts, codes.ANTIHYPERTENSIVES)
        reading.inputs.append(
            Input("Antihypertensive medication", "yes" if drug else "no", drug.source if drug else None)
        )
        scored["antihypertensive"] = award(reading, ANTIHYPERTENSIVE if drug else 0)
        scored["glucose"] = award(reading, HIGH_GLUCOSE if _high_glucose(reading) else 0)
        family = _family_history(reading)
        if family is not None:
            scored["family"] = award(reading, family)
        refused = reading.refused(self.id, self.version)
        if refused is not None:
            return refused
        return _assessment(self, scored, tuple(reading.inputs), sex)


def _bmi(reading: Reading) -> float | None:
    """The year's BMI, or weight over the newest height squared; a gap when neither can be had."""
    facts = reading.facts
    if facts.latest([BODY_MASS_INDEX], within=ONE_YEAR.span) is not None:
        found = reading.measurement("BMI", [BODY_MASS_INDEX], ONE_YEAR, BMI_RANGE)
        return None if found is None else found.value
    weight = facts.latest([WEIGHT], within=ONE_YEAR.span)
    height = facts.latest([HEIGHT])
    if weight is None or height is None:
        reading.missing.append("no BMI, or weight and height, in the last year")
        return None
    if weight.value not in WEIGHT_RANGE or height.value not in HEIGHT_RANGE:
        reading.missing.append(f"weight {weight.value:g} kg or height {height.value:g} cm is implausible")
        return None
    bmi = weight.value / (height.value / 100) ** 2
    shown = (
        f"{bmi:.1f} kg/m² from weight {weight.value:g} kg ({weight.when.isoformat()}) and height {height.value:g} cm"
    )
    reading.inputs.append(Input("BMI", shown, weight.source))
    return bmi


def _answer(reading: Reading, label: str, answers: dict[Code, bool]) -> bool | None:
    """The newest of the year's coded answers to a yes/no question, as an Input; None when unanswered."""
    facts = reading.facts
    given = [
        f for f in facts.answers if f.code in answers and f.when is not None and facts.on - f.when <= ONE_YEAR.span
    ]
    if not given:
        return None
    newest = max(given, key=lambda f: f.when or facts.on)
    reading.inputs.append(Input(label, "yes" if answers[newest.code] else "no", newest.source))
    return answers[newest.code]


def _activity(reading: Reading) -> bool | None:
    """At least 30 minutes of activity every day: from the Exercise Vital Sign, else from a coded answer."""
    facts = reading.facts
    days = facts.latest([EXERCISE_DAYS], within=ONE_YEAR.span)
    minutes = facts.latest([EXERCISE_MINUTES], within=ONE_YEAR.span)
    if days is not None and minutes is not None:
        daily = days.value >= 7 and minutes.value >= DAILY_MINUTES
        shown = f"{'yes' if daily else 'no'}: {days.value:g} days a week, {minutes.value:g} minutes a day"
        reading.inputs.append(Input("Physical activity 30 minutes daily", shown, days.source))
        return daily
    answered = _answer(reading, "Physical activity 30 minutes daily", ACTIVITY)
    if answered is None:
        reading.missing.append("no answer on 30 minutes of physical activity daily in the last year")
    return answered


def _high_glucose(reading: Reading) -> bool:
    """Ever found to have high blood glucose: on the problem list, or a prediabetic HbA1c or fasting glucose."""
    facts = reading.facts
    found: Finding | None = facts.has(facts.conditions, codes.HIGH_BLOOD_GLUCOSE)
    source = found.source if found else None
    if found is None:
        high = [
            m
            for code, threshold in ((HBA1C, PREDIABETES_HBA1C_FROM), (FASTING_GLUCOSE, PREDIABETES_FASTING_FROM))
            for m in facts.measurements.get(code, ())
            if m.value >= threshold
        ]
        source = high[0].source if high else None
    reading.inputs.append(Input("High blood glucose ever", "yes" if source else "no", source))
    return source is not None


def _family_history(reading: Reading) -> int | None:
    """5 for a parent, sibling or child with diabetes, 3 for a grandparent, aunt, uncle or cousin, 0 for none
    recorded; a gap for a family history whose relative is not named."""
    facts = reading.facts
    histories = {
        f.source
        for f in facts.answers
        if f.code in codes.FAMILY_HISTORY_DIABETES
        or (f.source.startswith("FamilyMemberHistory/") and f.code in codes.DIABETES)
    }
    if not histories:
        reading.inputs.append(Input("Family history of diabetes", "none recorded"))
        return 0
    best: tuple[int, str] | None = None
    for source in sorted(histories):
        relatives = {f.code for f in facts.answers if f.source == source}
        degree = (
            FIRST_DEGREE
            if relatives & FIRST_DEGREE_RELATIVES
            else SECOND_DEGREE
            if relatives & SECOND_DEGREE_RELATIVES
            else None
        )
        if degree is None:
            reading.missing.append(f"a family history of diabetes ({source}) does not say which relative")
            return None
        if best is None or degree > best[0]:
            best = (degree, source)
    assert best is not None
    words = "parent, sibling or child" if best[0] == FIRST_DEGREE else "grandparent, aunt, uncle or cousin"
    reading.inputs.append(Input("Family history of diabetes", words, best[1]))
    return best[0]


def _assessment(score: Findrisc, scored: dict[str, int], inputs: tuple[Input, ...], sex: Sex | None) -> Assessment:
    total = sum(scored.values())
    _, band, share = next(level for level in LEVELS if total >= level[0])
    waist_goal = f"Waist below {WAIST_FROM[sex][0]:g} cm" if sex else "A smaller waist"
    changes = (
        ("bmi", "BMI below 25 kg/m²"),
        ("waist", waist_goal),
        ("activity", "30 minutes of physical activity every day"),
        ("vegetables", "Vegetables, fruit or berries every day"),
    )
    alert = total >= ALERT_FROM
    return Assessment(
        score=score.id,
        version=score.version,
        value=float(total),
        display=f"FINDRISC {total} of 26 ({band} risk: {share} will develop type 2 diabetes in 10 years)",
        band=band,
        inputs=inputs,
        alert=alert,
        why=f"FINDRISC {total} (>= {ALERT_FROM}): {band} risk of type 2 diabetes; test glucose or HbA1c and "
        "offer lifestyle intervention"
        if alert
        else "",
        lowering=tuple(Lowering(change, float(total - scored[item])) for item, change in changes if scored.get(item)),
    )


FINDRISC = Findrisc()
