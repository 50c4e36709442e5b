"""Medications and results as people read them: printed units, dates in the node's zone, doses in words, ranges
and flags, names instead of references; without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from careledger.config import Home, Settings, load_settings
from careledger.errors import ConfigError
from careledger.portal._clinical import Flag, dose, flag, medications, reference_range, result, results
from careledger.portal._formats import moment, printed_unit, quantity, zone
from careledger.portal._views import describe

UCUM = "http://unitsofmeasure.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def _quantity(value: float, code: str) -> dict[str, Any]:
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def _observation(value: float, code: str, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
        "effectiveDateTime": "2026-06-01T09:00:00Z",
        "valueQuantity": _quantity(value, code),
        **more,
    }


def _range(low: float | None, high: float | None, code: str = "mg/dL", **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = dict(more)
    if low is not None:
        found["low"] = _quantity(low, code)
    if high is not None:
        found["high"] = _quantity(high, code)
    return found


def _names(known: dict[str, str]) -> Any:
    """A namer as `_names.reference_names` makes one, over a fixed table (the door's part is tested in the
    browser test)."""

    def name(reference: Any) -> str:
        if isinstance(reference, list):
            return "; ".join(name(r) for r in reference)
        return known.get(reference.get("reference", ""), "") if isinstance(reference, dict) else ""

    return name


@pytest.mark.parametrize(
    ("code", "printed"),
    [
        ("mm[Hg]", "mmHg"),
        ("10*9/L", "\N{MULTIPLICATION SIGN}10⁹/L"),
        ("10*3/uL", "\N{MULTIPLICATION SIGN}10³/µL"),
        ("Cel", "°C"),
        ("/min", "/min"),
        ("mg/dL", "mg/dL"),
        ("umol/L", "µmol/L"),
        ("kg/m2", "kg/m²"),
        ("[iU]/L", "IU/L"),
        ("mL/min/{1.73_m2}", "mL/min/1.73 m²"),
        ("{copies}/mL", "copies/mL"),
        ("mg.h/L", "mg·h/L"),
        ("U/L", "U/L"),
    ],
)
def test_a_ucum_code_is_printed_as_a_lab_report_prints_it(code: str, printed: str) -> None:
    assert printed_unit(code) == printed


def test_a_units_own_words_win_and_other_systems_are_left_alone() -> None:
    assert printed_unit("mm[Hg]", "millimetre of mercury") == "millimetre of mercury"
    assert printed_unit("TAB", "", "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm") == "TAB"
    assert quantity({"value": 2, "unit": "{tbl}", "system": UCUM, "code": "{tbl}"}) == "2 tablets"
    assert quantity({"value": 1, "system": UCUM, "code": "{tbl}"}) == "1 tablet"
    assert quantity({"value": 5, "comparator": "<", "system": UCUM, "code": "mmol/L"}) == "<5 mmol/L"
    assert quantity({"value": 97, "system": UCUM, "code": "%"}) == "97%"
    assert quantity({"unit": "mg"}) == ""
    assert describe(_quantity(128, "mm[Hg]")) == "128 mmHg"  # every page's quantities, the timeline's too
    assert describe({"value": 12, "currency": "EUR"}) == "12 EUR"


@pytest.mark.parametrize(
    ("value", "zone_name", "shown"),
    [
        ("2026-12-06T14:30:00Z", "UTC", "6 Dec 2026, 14:30"),
        ("2026-12-06T14:30:00+00:00", "Europe/Paris", "6 Dec 2026, 15:30"),
        ("2026-12-06T23:30:00Z", "Asia/Tokyo", "7 Dec 2026, 08:30"),
        ("2026-06-01", "UTC", "1 Jun 2026"),
        ("2026-06", "UTC", "Jun 2026"),
        ("2026", "UTC", "2026"),
        ("2026-13-01", "UTC", "2026-13-01"),  # not a date: shown as it is, never an error
        ("soon", "UTC", "soon"),
        ("", "UTC", ""),
    ],
)
def test_a_moment_reads_as_people_write_it_in_the_nodes_zone(value: str, zone_name: str, shown: str) -> None:
    assert moment(value, zone(zone_name)) == shown


def test_today_and_yesterday_are_said_so_and_a_timeline_shows_the_day_alone() -> None:
    now = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    assert moment("2026-12-06T09:05:00Z", UTC, now) == "today, 09:05"
    assert moment("2026-12-05T23:59:00Z", UTC, now) == "yesterday, 23:59"
    assert moment("2026-12-05T23:59:00Z", zone("Europe/Paris"), now) == "today, 00:59"
    assert moment("2026-12-04T10:00:00Z", UTC, now) == "4 Dec 2026, 10:00"
    assert moment("2026-12-04T10:00:00Z", UTC, now, clock=False) == "4 Dec 2026"


def test_an_unknown_time_zone_is_refused_when_the_settings_are_read(tmp_path: Any) -> None:
    assert Settings().timezone == "UTC"
    assert load_settings(Home(tmp_path), timezone="Europe/Paris").timezone == "Europe/Paris"
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        load_settings(Home(tmp_path), timezone="Mars/Olympus")


def test_a_reference_range_is_printed_with_its_text_and_whom_it_applies_to() -> None:
    assert reference_range(_range(70, 180)) == "70\N{EN DASH}180 mg/dL"
    assert reference_range(_range(60, None, "mL/min")) == "≥ 60 mL/min"
    assert reference_range(_range(None, 5.6, "%")) == "≤ 5.6%"
    assert reference_range({"text": "negative"}) == "negative"
    adults = {"appliesTo": [{"text": "adults"}]}
    assert reference_range(_range(70, 100, text="fasting", **adults)) == "70\N{EN DASH}100 mg/dL, fasting (adults)"


@pytest.mark.parametrize(
    ("code", "words", "kind"),
    [
        ("H", "High", "high"),
        ("L", "Low", "low"),
        ("HH", "Critically high", "critical"),
        ("LL", "Critically low", "critical"),
        ("A", "Abnormal", "abnormal"),
        ("N", "Normal", "normal"),
    ],
)
def test_the_labs_interpretation_is_the_flag_in_words(code: str, words: str, kind: str) -> None:
    # the range would say otherwise: the lab's word stands
    found = _observation(100, "mg/dL", referenceRange=[_range(70, 80)], interpretation=[_interpretation(code)])
    assert flag(found) == Flag(words, kind, computed=False)


def test_without_an_interpretation_the_range_says_outside_range_and_nothing_more() -> None:
    high = _observation(190, "mg/dL", referenceRange=[_range(70, 180)])
    assert flag(high) == Flag("Outside range (high)", "high", computed=True)
    low = _observation(60, "mg/dL", referenceRange=[_range(70, 180)])
    assert flag(low) == Flag("Outside range (low)", "low", computed=True)
    assert flag(_observation(100, "mg/dL", referenceRange=[_range(70, 180)])) is None
    assert flag(_observation(100, "mg/dL")) is None
    other_unit = _observation(10, "mmol/L", referenceRange=[_range(70, 180)])
    assert flag(other_unit) is None  # 10 mmol/L is not below 70 mg/dL: units differ, no guess
    bounded = {**high, "valueQuantity": {**high["valueQuantity"], "comparator": ">"}}
    assert flag(bounded) is None
    unknown = _observation(1, "mg/dL", interpretation=[{"text": "Resistant"}])
    assert flag(unknown) == Flag("Resistant", "abnormal")


def test_a_panel_prints_its_components_each_with_its_range_and_flag() -> None:
    panel = {
        "resourceType": "Observation",
        "id": "bp-1",
        "status": "final",
        "code": {"text": "Blood pressure panel"},
        "effectivePeriod": {"start": "2026-06-01T09:00:00Z"},
        "component": [
            {
                "code": {"text": "Systolic"},
                "valueQuantity": _quantity(150, "mm[Hg]"),
                "referenceRange": [_range(90, 130, "mm[Hg]")],
                "interpretation": [_interpretation("H")],
            },
            {"code": {"text": "Diastolic"}, "valueQuantity": _quantity(82, "mm[Hg]")},
        ],
    }
    printed = result(panel)
    assert (printed.name, printed.value, printed.when) == ("Blood pressure panel", "", "2026-06-01T09:00:00Z")
    systolic, diastolic = printed.parts
    assert (systolic.name, systolic.value, systolic.range) == ("Systolic", "150 mmHg", "90\N{EN DASH}130 mmHg")
    assert systolic.flag == Flag("High", "high")
    assert (diastolic.value, diastolic.flag) == ("82 mmHg", None)
    assert result({**_observation(1, "mg/dL"), "valueQuantity": None, "valueBoolean": False}).value == "No"
    absent = {**_observation(1, "mg/dL"), "dataAbsentReason": {"text": "Not performed"}}
    del absent["valueQuantity"]
    assert result(absent).value == "No value: not performed"


def test_reports_hold_their_results_and_other_results_stand_alone_newest_first() -> None:
    first = {**_observation(4.3, "mmol/L"), "id": "k"}
    second = {**_observation(112, "mg/dL"), "id": "g"}
    later = {**_observation(11.2, "10*9/L"), "id": "w", "effectiveDateTime": "2026-07-01T08:00:00Z"}
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r",
        "status": "final",
        "code": {"text": "Basic metabolic panel"},
        "effectiveDateTime": "2026-06-01T09:00:00Z",
        "issued": "2026-06-01T13:00:00Z",
        "performer": [{"reference": "Organization/lab"}],
        "result": [{"reference": "Observation/k"}, {"reference": "Observation/g"}, {"reference": "Observation/gone"}],
        "conclusion": "Unremarkable",
    }
    wrong = {**report, "id": "x", "status": "entered-in-error"}
    reports, alone = results([first, report, second, later, wrong], _names({"Organization/lab": "City Lab"}))
    assert [r.record_id for r in reports] == ["r"]
    assert [r.record_id for r in reports[0].results] == ["k", "g"]  # the one it may not see is not made up
    assert (reports[0].performer, reports[0].conclusion, reports[0].issued) == (
        "City Lab",
        "Unremarkable",
        "2026-06-01T13:00:00Z",
    )
    assert [r.record_id for r in alone] == ["w"]
    assert alone[0].value == "11.2 \N{MULTIPLICATION SIGN}10⁹/L"


def test_a_dose_reads_as_a_pharmacist_says_it() -> None:
    assert dose([{"text": "Take one tablet by mouth daily"}]) == "Take one tablet by mouth daily"
    structured = {
        "doseAndRate": [{"doseQuantity": {"value": 1, "system": UCUM, "code": "{tbl}"}}],
        "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
        "asNeededBoolean": True,
        "route": {"coding": [{"display": "Oral"}]},
    }
    assert dose([structured]) == "1 tablet, twice a day, as needed, oral"
    every = {"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}}}
    assert dose([every]) == "every 8 hours"
    weekly = {"timing": {"repeat": {"frequency": 3, "period": 2, "periodUnit": "wk"}}}
    assert dose([weekly]) == "three times every 2 weeks"
    coded = {"timing": {"code": {"text": "at bedtime"}}, "asNeededCodeableConcept": {"text": "Pain"}}
    assert dose([coded]) == "at bedtime, as needed for pain"
    puffs = {"doseAndRate": [{"doseRange": {"low": _quantity(1, "{puff}"), "high": _quantity(2, "{puff}")}}]}
    assert dose([puffs, {"text": "then stop"}]) == "1\N{EN DASH}2 puffs; then then stop"
    assert dose(None) == ""


def test_a_medication_list_names_medicines_not_references_current_first() -> None:
    names = _names({"Medication/m-1": "metformin 500 MG Oral Tablet", "Practitioner/p-1": "Dr Bob Jones"})
    prescription = {
        "resourceType": "MedicationRequest",
        "id": "a",
        "status": "active",
        "medicationReference": {"reference": "Medication/m-1"},
        "requester": {"reference": "Practitioner/p-1"},
        "authoredOn": "2026-05-01T10:00:00Z",
        "reasonCode": [{"text": "Diabetes"}],
        "dosageInstruction": [{"text": "One a day"}],
    }
    stopped = {**prescription, "id": "b", "status": "stopped", "authoredOn": "2026-06-01T10:00:00Z"}
    contained = {
        "resourceType": "MedicationStatement",
        "id": "c",
        "status": "active",
        "contained": [{"resourceType": "Medication", "id": "med", "code": {"text": "ibuprofen 200 MG"}}],
        "medicationReference": {"reference": "#med"},
        "dateAsserted": "2026-04-01",
        "dosage": [{"text": "as needed"}],
    }
    unnamed = {**prescription, "id": "d", "medicationReference": {"reference": "Medication/gone"}, "requester": None}
    wrong = {**prescription, "id": "e", "status": "entered-in-error"}
    listed = medications([stopped, contained, prescription, unnamed, wrong, {"resourceType": "Observation"}], names)
    assert [m.record_id for m in listed] == ["a", "d", "c", "b"]
    first = listed[0]
    assert (first.name, first.source, first.reason, first.dose) == (
        "metformin 500 MG Oral Tablet",
        "Prescribed by Dr Bob Jones",
        "Diabetes",
        "One a day",
    )
    assert (listed[2].name, listed[2].source, listed[2].when) == ("ibuprofen 200 MG", "Reported", "2026-04-01")
    assert listed[1].name == "(medication not named)"  # never "Medication/gone"
    assert (listed[3].current, listed[3].status) == (False, "stopped")


def _interpretation(code: str) -> dict[str, Any]:
    return {"coding": [{"system": V3, "code": code}]}
