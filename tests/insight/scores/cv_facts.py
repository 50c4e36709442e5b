"""Facts for the cardiovascular and kidney score tests, built directly (no node): a patient of a given age and sex
with the measurements, conditions, medications and smoking status the equations read, each with a source."""

from __future__ import annotations

from datetime import date, timedelta

from careledger.insight import LOINC, RXNORM, SNOMED, Code, Facts, Finding, Measurement
from careledger.insight._model import Sex

ON = date(2026, 12, 1)
OMB = "urn:oid:2.16.840.1.113883.6.238"
WHITE = Code(OMB, "2106-3")
BLACK = Code(OMB, "2054-5")
ASIAN = Code(OMB, "2028-9")

TOTAL_CHOLESTEROL = "2093-3"
HDL = "2085-9"
SYSTOLIC = "8480-6"
CREATININE = "2160-0"
EGFR = "98979-8"
BMI = "39156-5"
UNITS = {TOTAL_CHOLESTEROL: "mg/dL", HDL: "mg/dL", SYSTOLIC: "mm[Hg]", CREATININE: "mg/dL", BMI: "kg/m2"}

DIABETES_TYPE_2 = Finding(Code(SNOMED, "44054006"), "Condition/dm2")
MYOCARDIAL_INFARCTION = Finding(Code(SNOMED, "22298006"), "Condition/mi")
HEART_FAILURE = Finding(Code(SNOMED, "84114007"), "Condition/hf")
AMLODIPINE = Finding(Code(RXNORM, "17767"), "MedicationStatement/amlodipine")
ATORVASTATIN = Finding(Code(RXNORM, "83367"), "MedicationStatement/atorvastatin")
CURRENT_SMOKER = Finding(Code(SNOMED, "449868002"), "Observation/smoking", ON - timedelta(days=30))
NEVER_SMOKER = Finding(Code(SNOMED, "266919005"), "Observation/smoking", ON - timedelta(days=30))


def born(age: int) -> date:
    """A birth date that makes the patient `age` whole years old on ON."""
    return ON.replace(year=ON.year - age) - timedelta(days=10)


def measured(loinc: str, value: float, *, days_ago: int = 20, unit: str | None = None) -> Measurement:
    return Measurement(
        Code(LOINC, loinc),
        value,
        unit or UNITS.get(loinc, "mL/min/{1.73_m2}"),
        ON - timedelta(days=days_ago),
        f"Observation/{loinc}-{days_ago}",
    )


def facts(
    *,
    age: int | None = 55,
    sex: Sex | None = "female",
    measurements: list[Measurement] | None = None,
    conditions: tuple[Finding, ...] = (),
    medications: tuple[Finding, ...] = (),
    answers: tuple[Finding, ...] = (NEVER_SMOKER,),
    race: tuple[Code, ...] = (WHITE,),
) -> Facts:
    """A patient with the given facts; measurements grouped by code, newest first as the gatherer gives them."""
    by_code: dict[Code, list[Measurement]] = {}
    for m in measurements or []:
        by_code.setdefault(m.code, []).append(m)
    return Facts(
        patient="Patient/p1",
        on=ON,
        birth_date=None if age is None else born(age),
        sex=sex,
        measurements={code: tuple(sorted(ms, key=lambda m: m.when, reverse=True)) for code, ms in by_code.items()},
        conditions=conditions,
        medications=medications,
        answers=answers,
        race=race,
    )


def lipids_and_pressure(total: float = 213, hdl: float = 50, systolic: float = 120) -> list[Measurement]:
    return [measured(TOTAL_CHOLESTEROL, total), measured(HDL, hdl), measured(SYSTOLIC, systolic)]
