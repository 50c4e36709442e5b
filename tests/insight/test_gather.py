"""Facts from FHIR resources: units converted by UCUM code (an unknown unit skipped), BP panels flattened, clinical
statuses filtered, race from the US Core extension, nothing after the day asked about."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from careledger.insight import LOINC, RXNORM, SNOMED, Code, Facts
from careledger.insight._gather import facts_from_resources

ON = date(2026, 12, 6)
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "birthDate": "1971-12-07",
    "gender": "female",
    "extension": [
        {
            "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
            "extension": [
                {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2054-5"}},
                {"url": "text", "valueString": "Black or African American"},
            ],
        }
    ],
}


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _observation(ident: str, loinc: str, value: float, unit: str, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": _concept(LOINC, loinc),
        "effectiveDateTime": "2026-11-01T09:30:00Z",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        **more,
    }


def _facts(*resources: dict[str, Any]) -> Facts:
    return facts_from_resources(PATIENT, resources, ON)


def _value(facts: Facts, loinc: str) -> tuple[float, str, str] | None:
    found = facts.latest([Code(LOINC, loinc)])
    return None if found is None else (round(found.value, 2), found.unit, found.source)


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "expected"),
    [
        ("2093-3", 5.5, "mmol/L", (212.69, "mg/dL")),  # total cholesterol
        ("2085-9", 50, "mg/dL", (50.0, "mg/dL")),  # HDL already in mg/dL
        ("2160-0", 88.42, "umol/L", (1.0, "mg/dL")),  # creatinine
        ("2345-7", 5.0, "mmol/L", (90.08, "mg/dL")),  # glucose
        ("8310-5", 98.6, "[degF]", (37.0, "Cel")),  # temperature
        ("29463-7", 150, "[lb_av]", (68.04, "kg")),  # weight
        ("8302-2", 65, "[in_i]", (165.1, "cm")),  # height
        ("4548-4", 48, "mmol/mol", (6.54, "%")),  # HbA1c, IFCC to NGSP
    ],
)
def test_units_are_converted_by_ucum_code(loinc: str, value: float, unit: str, expected: tuple[float, str]) -> None:
    assert _value(_facts(_observation("o1", loinc, value, unit)), loinc) == (*expected, "Observation/o1")


def test_an_unknown_unit_is_skipped_not_guessed_and_kept_as_unread() -> None:
    facts = _facts(
        _observation("o1", "2093-3", 5.5, "mg/L"),  # not a unit cholesterol is known to come in
        _observation("o2", "8310-5", 37, "K"),
    )
    assert facts.measurements == {}
    assert {(u.code.code, u.why, u.source) for u in facts.unread} == {
        ("2093-3", "unit 'mg/L' not understood", "Observation/o1"),
        ("8310-5", "unit 'K' not understood", "Observation/o2"),
    }


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "expected"),
    [
        ("2085-9", 50, "mg/dl", 50.0),  # "l" for litre is valid UCUM too
        ("2093-3", 5.5, "mmol/l", 212.69),
        ("2160-0", 88.42, "umol/l", 1.0),
        ("2160-0", 88.42, "µmol/L", 1.0),  # the micro sign
        ("2160-0", 88.42, "μmol/L", 1.0),  # the Greek mu
    ],
)
def test_the_case_variants_clinical_systems_send_are_read(loinc: str, value: float, unit: str, expected: float) -> None:
    assert _value(_facts(_observation("o1", loinc, value, unit)), loinc) == (expected, "mg/dL", "Observation/o1")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (10**400, "its value is not a finite number"),  # valid JSON; float() of it raises OverflowError
        (float("nan"), "its value is not a finite number"),
        (float("inf"), "its value is not a finite number"),
        (-1.2, "its value is negative"),
    ],
)
def test_a_value_that_is_no_usable_number_is_unread_never_a_crash(value: float, why: str) -> None:
    facts = _facts(_observation("o1", "2160-0", value, "mg/dL"))
    assert facts.measurements == {}
    assert [(u.code.code, u.why) for u in facts.unread] == [("2160-0", why)]


def test_an_intolerance_or_low_criticality_allergy_is_marked() -> None:
    def allergy(ident: str, **more: Any) -> dict[str, Any]:
        return {"resourceType": "AllergyIntolerance", "id": ident, "code": _concept(RXNORM, "5640"), **more}

    facts = _facts(allergy("a1", type="intolerance"), allergy("a2", criticality="low"), allergy("a3", type="allergy"))
    assert len(facts.allergies) == 3
    assert facts.intolerances == {"AllergyIntolerance/a1", "AllergyIntolerance/a2"}


def test_another_unit_system_and_comparators_are_skipped_but_unit_text_alone_is_read() -> None:
    other = _observation("o1", "2093-3", 200, "mg/dL")
    other["valueQuantity"]["system"] = "http://example.org/units"
    below = _observation("o2", "2160-0", 0.5, "mg/dL")
    below["valueQuantity"]["comparator"] = "<"
    text_only = _observation("o3", "2085-9", 45, "mg/dL")
    text_only["valueQuantity"] = {"value": 45, "unit": "mg/dL"}
    facts = _facts(other, below, text_only)
    assert set(facts.measurements) == {Code(LOINC, "2085-9")}
    assert _value(facts, "2085-9") == (45.0, "mg/dL", "Observation/o3")


def test_a_code_outside_the_table_keeps_its_own_unit() -> None:
    facts = _facts(_observation("o1", "6301-6", 2.4, "{INR}"))
    assert _value(facts, "6301-6") == (2.4, "{INR}", "Observation/o1")


def test_a_blood_pressure_panel_is_flattened_into_its_components() -> None:
    panel = {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": _concept(LOINC, "85354-9"),
        "effectivePeriod": {"start": "2026-12-01T08:00:00Z"},
        "component": [
            {"code": _concept(LOINC, "8480-6"), "valueQuantity": {"value": 142, "system": UCUM, "code": "mm[Hg]"}},
            {"code": _concept(LOINC, "8462-4"), "valueQuantity": {"value": 91, "system": UCUM, "code": "mm[Hg]"}},
        ],
    }
    facts = _facts(panel)
    assert _value(facts, "8480-6") == (142.0, "mm[Hg]", "Observation/bp")
    assert _value(facts, "8462-4") == (91.0, "mm[Hg]", "Observation/bp")
    assert facts.latest([Code(LOINC, "8480-6")]).when == date(2026, 12, 1)  # type: ignore[union-attr]


def test_measurements_are_newest_first_and_none_from_after_the_day_or_not_final() -> None:
    old = _observation("old", "2085-9", 40, "mg/dL", effectiveDateTime="2020-01-01")
    new = _observation("new", "2085-9", 55, "mg/dL", effectiveDateTime="2026-06-01")
    future = _observation("future", "2085-9", 70, "mg/dL", effectiveDateTime="2026-12-07")
    wrong = _observation("wrong", "2085-9", 90, "mg/dL", status="entered-in-error")
    undated = _observation("undated", "2085-9", 99, "mg/dL", effectiveDateTime="2026")  # a year: no look-back
    undated.pop("effectiveDateTime")
    undated["issued"] = "2026-11"
    facts = _facts(old, future, new, wrong, undated)
    assert [m.source for m in facts.measurements[Code(LOINC, "2085-9")]] == ["Observation/new", "Observation/old"]


def test_coded_answers_and_demographics() -> None:
    smoking = {
        "resourceType": "Observation",
        "id": "smoke",
        "status": "final",
        "code": _concept(LOINC, "72166-2"),
        "effectiveDateTime": "2026-10-10",
        "valueCodeableConcept": _concept(SNOMED, "449868002"),
    }
    facts = _facts(smoking)
    assert [(a.code, a.source, a.when) for a in facts.answers] == [
        (Code(SNOMED, "449868002"), "Observation/smoke", date(2026, 10, 10))
    ]
    assert (facts.patient, facts.birth_date, facts.age, facts.sex) == ("p1", date(1971, 12, 7), 54, "female")
    assert facts.race == (Code("urn:oid:2.16.840.1.113883.6.238", "2054-5"),)


def test_other_gender_and_partial_birth_date_are_unknown_not_guessed() -> None:
    facts = facts_from_resources({"resourceType": "Patient", "id": "x", "gender": "other", "birthDate": "1970"}, [], ON)
    assert (facts.sex, facts.birth_date, facts.age, facts.race) == (None, None, None, ())


def _condition(ident: str, clinical: str | None, verification: str | None = None, **more: Any) -> dict[str, Any]:
    condition: dict[str, Any] = {"resourceType": "Condition", "id": ident, "code": _concept(SNOMED, "44054006")}
    if clinical is not None:
        condition["clinicalStatus"] = _concept(CLINICAL, clinical)
    if verification is not None:
        condition["verificationStatus"] = _concept(VERIFICATION, verification)
    return {**condition, **more}


def test_only_active_conditions_count() -> None:
    facts = _facts(
        _condition("active", "active", "confirmed", onsetDateTime="2019-05-02"),
        _condition("relapse", "relapse"),
        _condition("resolved", "resolved"),
        _condition("remission", "remission"),
        _condition("refuted", "active", "refuted"),
        _condition("error", "active", "entered-in-error"),
        _condition("possible", "active", "provisional"),
        _condition("differential", "active", "differential"),
        _condition("unconfirmed", "active", "unconfirmed"),
        _condition("unsaid", None),
        _condition("later", "active", onsetDateTime="2027-01-01"),
    )
    assert [(c.source, c.when) for c in facts.conditions] == [
        ("Condition/active", date(2019, 5, 2)),
        ("Condition/relapse", None),
    ]


def _request(ident: str, medication: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": "active",
        "medicationReference": {"reference": medication},
    }


def test_active_medications_by_concept_contained_or_given_medication() -> None:
    statin = _concept(RXNORM, "617312")
    facts = _facts(
        {"resourceType": "MedicationStatement", "id": "ms", "status": "active", "medicationCodeableConcept": statin},
        {"resourceType": "MedicationRequest", "id": "old", "status": "stopped", "medicationCodeableConcept": statin},
        {
            "resourceType": "MedicationRequest",
            "id": "mr",
            "status": "active",
            "authoredOn": "2026-01-02",
            "contained": [{"resourceType": "Medication", "id": "m", "code": _concept(RXNORM, "197361")}],
            "medicationReference": {"reference": "#m"},
        },
        _request("ref", "Medication/x"),
        {"resourceType": "Medication", "id": "x", "code": _concept(RXNORM, "308460")},
        _request("lost", "Medication/gone"),
    )  # fmt: skip
    assert [(m.code.code, m.source, m.when) for m in facts.medications] == [
        ("617312", "MedicationStatement/ms", None),
        ("197361", "MedicationRequest/mr", date(2026, 1, 2)),
        ("308460", "MedicationRequest/ref", None),
    ]


def test_allergies_active_or_without_status_and_family_history_as_answers() -> None:
    allergy = {"resourceType": "AllergyIntolerance", "id": "pen", "code": _concept(SNOMED, "91936005")}
    resolved = {**allergy, "id": "gone", "clinicalStatus": _concept(CLINICAL, "resolved")}
    refuted = {**allergy, "id": "no", "verificationStatus": _concept(VERIFICATION, "refuted")}
    family = {
        "resourceType": "FamilyMemberHistory",
        "id": "mother",
        "status": "completed",
        "date": "2025-03-04",
        "relationship": _concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "MTH"),
        "condition": [{"code": _concept(SNOMED, "160303001")}, {"code": _concept(SNOMED, "44054006")}],
    }
    wrong = {**family, "id": "wrong", "status": "entered-in-error"}
    facts = _facts(allergy, resolved, refuted, family, wrong)
    assert [a.source for a in facts.allergies] == ["AllergyIntolerance/pen"]
    assert [(a.code.code, a.source) for a in facts.answers] == [
        ("MTH", "FamilyMemberHistory/mother"),
        ("160303001", "FamilyMemberHistory/mother"),
        ("44054006", "FamilyMemberHistory/mother"),
    ]
    assert facts.conditions == ()  # a relative's diabetes is not hers


@pytest.mark.parametrize(
    ("given", "day"),
    [
        ("2026-11-01T09:30:00Z", date(2026, 11, 1)),
        ("2026-11-01", date(2026, 11, 1)),
        ("2024-02-29T00:00:00+01:00", date(2024, 2, 29)),
        ("2026-02-30", None),  # no such day
        ("0000-01-01", None),  # no year 0
        ("2026-11", None),  # partial: not within any look-back
        ("2026", None),
        ("20261101", None),  # ISO 8601 basic format is not FHIR's
        ("2026-W44-7", None),
        ("2026-1a-01", None),
        (20261101, None),
    ],
)
def test_an_effective_date_is_a_full_calendar_day(given: object, day: date | None) -> None:
    facts = _facts(_observation("o1", "8480-6", 120, "mm[Hg]", effectiveDateTime=given))
    assert _value(facts, "8480-6") == (None if day is None else (120, "mm[Hg]", "Observation/o1"))
    if day is not None:
        assert facts.latest([Code(LOINC, "8480-6")]).when == day  # type: ignore[union-attr]
