"""Eligibility from her own record: each criterion met, failed or unknown in words, nothing guessed; and her
stratum values."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources
from typing import Any

import pytest

from careledger.errors import ValidationError
from careledger.records import Resource
from careledger.trials import Criterion, StratumFactor, check_eligibility, load_protocol, stratum_of, stratum_values

TODAY = date(2026, 12, 7)
PROTOCOL = load_protocol((resources.files("careledger.trials") / "examples" / "hypertension-trial.json").read_bytes())
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def patient(born: str | None = "1970-05-01", gender: str | None = "female") -> Resource:
    found: Resource = {"resourceType": "Patient", "id": "p1"}
    if born is not None:
        found["birthDate"] = born
    if gender is not None:
        found["gender"] = gender
    return found


def condition(code: str, record_id: str, *, clinical: str = "active", verification: str = "confirmed") -> Resource:
    return {
        "resourceType": "Condition",
        "id": record_id,
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": verification}]},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }


def egfr(value: float, taken: date, *, code: str = "62238-1", unit: str = "mL/min/{1.73_m2}") -> Resource:
    return {
        "resourceType": "Observation",
        "id": f"egfr-{taken.isoformat()}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": taken.isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


HYPERTENSION = condition("59621000", "htn")
RECENT_EGFR = egfr(75, TODAY - timedelta(days=90))


def check(her: Resource, records: list[Resource]) -> Any:
    return check_eligibility(PROTOCOL.criteria, her, records, TODAY)


def test_a_patient_who_meets_every_criterion_is_eligible_with_each_reason() -> None:
    verdict = check(patient(), [HYPERTENSION, RECENT_EGFR])
    assert verdict.eligible
    assert (verdict.failed, verdict.unknown) == ([], [])
    assert verdict.met == [
        "active essential hypertension on record (Condition/htn)",
        "age 56 is >= 18",
        "age 56 is <= 80",
        "no active pregnancy on record",
        f"eGFR 75 mL/min/{{1.73_m2}} on {(TODAY - timedelta(days=90)).isoformat()} (Observation/egfr-2026-09-08)"
        " is not < 30",
    ]


@pytest.mark.parametrize(
    ("born", "words", "eligible"),
    [
        ("2008-12-07", "age 18 is >= 18", True),  # her 18th birthday is today
        ("2008-12-08", "age 17 is not >= 18", False),  # tomorrow
        ("1946-01-01", "age 80 is <= 80", True),
        ("1945-12-07", "age 81 is not <= 80", False),
    ],
)
def test_age_is_counted_from_her_birth_date_on_the_day(born: str, words: str, eligible: bool) -> None:
    verdict = check(patient(born), [HYPERTENSION, RECENT_EGFR])
    assert words in (verdict.met if eligible else verdict.failed)
    assert verdict.eligible is eligible


@pytest.mark.parametrize("born", [None, "1970", "1970-05"])
def test_no_full_birth_date_makes_age_unknown_and_her_not_eligible(born: str | None) -> None:
    verdict = check(patient(born), [HYPERTENSION, RECENT_EGFR])
    assert verdict.unknown == ["no full birth date on record", "no full birth date on record"]
    assert not verdict.eligible
    assert verdict.failed == []


def test_an_active_condition_of_an_exclusion_excludes_her() -> None:
    verdict = check(patient(), [HYPERTENSION, RECENT_EGFR, condition("77386006", "preg")])
    assert verdict.failed == ["active pregnancy on record (Condition/preg)"]
    assert not verdict.eligible


@pytest.mark.parametrize(
    "pregnancy",
    [
        condition("77386006", "preg", verification="entered-in-error"),
        condition("77386006", "preg", verification="refuted"),
        condition("77386006", "preg", clinical="resolved"),
    ],
)
def test_a_condition_entered_in_error_refuted_or_resolved_is_ignored(pregnancy: Resource) -> None:
    verdict = check(patient(), [HYPERTENSION, RECENT_EGFR, pregnancy])
    assert "no active pregnancy on record" in verdict.met
    assert verdict.eligible


def test_without_the_condition_studied_she_fails_inclusion() -> None:
    verdict = check(patient(), [condition("59621000", "htn", clinical="inactive"), RECENT_EGFR])
    assert verdict.failed == ["no active essential hypertension on record"]


def test_an_egfr_older_than_the_look_back_is_unknown_never_assumed() -> None:
    old = egfr(75, TODAY - timedelta(days=366))
    verdict = check(patient(), [HYPERTENSION, old])
    assert verdict.unknown == ["no eGFR on record in the last 365 days"]
    assert not verdict.eligible
    assert check(patient(), [HYPERTENSION]).unknown == ["no eGFR on record in the last 365 days"]


def test_a_low_egfr_under_either_code_excludes_her() -> None:
    taken = TODAY - timedelta(days=10)
    verdict = check(patient(), [HYPERTENSION, RECENT_EGFR, egfr(24.5, taken, code="98979-8")])
    assert verdict.failed == [
        f"eGFR 24.5 mL/min/{{1.73_m2}} on {taken.isoformat()} (Observation/egfr-{taken.isoformat()}) is < 30"
    ]


def test_an_egfr_in_a_unit_that_cannot_be_compared_is_unknown() -> None:
    verdict = check(patient(), [HYPERTENSION, egfr(75, TODAY - timedelta(days=5), unit="mL/min")])
    (reason,) = verdict.unknown
    assert reason.startswith("no usable eGFR in the last 365 days (Observation/")
    assert "unit 'mL/min' not understood" in reason


def test_sex_and_medication_criteria_read_gender_and_active_medications() -> None:
    criteria = [
        Criterion("inclusion", "sex", "sex", codes=("female",)),
        Criterion(
            "exclusion",
            "medication",
            "spironolactone",
            system="http://www.nlm.nih.gov/research/umls/rxnorm",
            codes=("9997",),
        ),
    ]
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": criteria[1].system, "code": "9997"}]},
        "subject": {"reference": "Patient/p1"},
    }
    assert check_eligibility(criteria, patient(), [], TODAY).met == ["sex female", "no active spironolactone on record"]
    on_it = check_eligibility(criteria, patient(gender="male"), [statement], TODAY)
    assert on_it.failed == ["sex male, not female", "active spironolactone on record (MedicationStatement/ms1)"]
    assert check_eligibility(criteria, patient(gender=None), [], TODAY).unknown == ["no sex on record"]


@pytest.mark.parametrize(
    ("born", "gender", "values"),
    [
        ("1970-05-01", "female", {"sex": "female", "age": "under-60"}),
        ("1966-12-07", "male", {"sex": "male", "age": "60-plus"}),  # 60 today
        ("1966-12-08", "unknown", {"sex": "other", "age": "under-60"}),
        ("1950-01-01", None, {"sex": "other", "age": "60-plus"}),
    ],
)
def test_stratum_values_come_from_her_gender_and_age(born: str, gender: str | None, values: dict[str, str]) -> None:
    found = stratum_values(PROTOCOL.stratification, patient(born, gender), TODAY)
    assert found == values
    assert 0 <= stratum_of(PROTOCOL.stratification, found) < PROTOCOL.strata


def test_a_stratum_her_record_cannot_tell_is_refused() -> None:
    with pytest.raises(ValidationError, match="stratum factor age: no full birth date on record"):
        stratum_values(PROTOCOL.stratification, patient(None), TODAY)
    two = (StratumFactor("sex", ("female", "male"), "gender"),)
    with pytest.raises(ValidationError, match="stratum factor sex: sex other is none of its levels"):
        stratum_values(two, patient(gender="other"), TODAY)
