"""A visit's CRF: a response checked against its Questionnaire rule by rule, complete only when completed with no
problem, compared with her Observations of the day, and every correction's Provenance with its reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import pytest

from careledger.errors import ValidationError
from careledger.records import Resource, parse_resource
from careledger.trials import (
    Discrepancy,
    check_response,
    correction_provenance,
    crf_complete,
    crf_problems,
    load_protocol,
    questionnaire,
    source_check,
)
from careledger.trials._crf import form_problems

PROTOCOL = load_protocol((resources.files("careledger.trials") / "examples" / "hypertension-trial.json").read_bytes())
FORM = questionnaire(PROTOCOL, 2)
DAY = date(2026, 12, 7)
LOINC = "http://loinc.org"
ADHERENCE = "https://careledger.org/fhir/CodeSystem/ht3-adherence"


def response(status: str = "completed") -> Resource:
    """A week-4 CRF answered in full."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{FORM['url']}|{FORM['version']}",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "authored": "2026-12-07T10:30:00Z",
        "item": [
            {
                "linkId": "vitals",
                "item": [
                    {"linkId": "systolic", "answer": [{"valueInteger": 142}]},
                    {"linkId": "diastolic", "answer": [{"valueInteger": 91}]},
                    {"linkId": "heart-rate", "answer": [{"valueInteger": 72}]},
                ],
            },
            {"linkId": "weight", "answer": [{"valueDecimal": 81.5}]},
            {"linkId": "adherence", "answer": [{"valueCoding": {"system": ADHERENCE, "code": "all"}}]},
            {"linkId": "new-symptoms", "answer": [{"valueBoolean": False}]},
            {"linkId": "notes", "answer": [{"valueString": "Took tablets with breakfast."}]},
        ],
    }


def _item(data: Resource, link: str) -> dict[str, Any]:
    """The item `link` of a response, at any depth."""
    stack = list(data["item"])
    while stack:
        item = stack.pop()
        if item["linkId"] == link:
            return item
        stack += item.get("item", [])
    raise KeyError(link)


def _answer(link: str, **value: Any) -> Callable[[Resource], None]:
    def change(data: Resource) -> None:
        _item(data, link)["answer"] = [value]

    return change


def _drop(link: str) -> Callable[[Resource], None]:
    def change(data: Resource) -> None:
        for holder in [data, *data["item"]]:
            holder["item"] = [item for item in holder.get("item", []) if item["linkId"] != link]

    return change


def _twice(link: str) -> Callable[[Resource], None]:
    def change(data: Resource) -> None:
        item = _item(data, link)
        item["answer"] = item["answer"] * 2

    return change


def _repeated_item(data: Resource) -> None:
    data["item"].append(copy.deepcopy(_item(data, "weight")))


def _unknown(data: Resource) -> None:
    data["item"].append({"linkId": "bmi", "answer": [{"valueDecimal": 27.1}]})


def _group_answer(data: Resource) -> None:
    _item(data, "vitals")["answer"] = [{"valueString": "seated"}]


def _two_values(data: Resource) -> None:
    _item(data, "weight")["answer"] = [{"valueDecimal": 81.5, "valueString": "81.5"}]


def _other_form(data: Resource) -> None:
    data["questionnaire"] = "https://careledger.org/trials/ht3/crf/week-8|1"


SYS = "'systolic' (Systolic blood pressure)"
FAILING = [
    (_drop("adherence"), "item 'adherence' (Tablets taken since the last visit (by tablet count)): required"),
    (_drop("systolic"), f"item {SYS}: required"),
    (
        _answer("systolic", valueString="142"),
        f"item {SYS}: '142' as valueString; integer items are answered with valueInteger",
    ),
    (
        _answer("systolic", valueDecimal=142.5),
        f"item {SYS}: 142.5 as valueDecimal; integer items are answered with valueInteger",
    ),
    (
        _answer("weight", valueDecimal="81.5"),
        "item 'weight' (Body weight): '81.5' as valueDecimal; decimal items are answered",
    ),
    (_answer("new-symptoms", valueString="no"), "'no' as valueString; boolean items are answered with valueBoolean"),
    (_answer("systolic", valueInteger=300), f"item {SYS}: 300 is above the maximum 260"),
    (_answer("diastolic", valueInteger=20), "item 'diastolic' (Diastolic blood pressure): 20 is below the minimum 30"),
    (_answer("weight", valueDecimal=29.9), "item 'weight' (Body weight): 29.9 is below the minimum 30"),
    (_unknown, "item 'bmi': not in the Questionnaire"),
    (_answer("adherence", valueCoding={"system": ADHERENCE, "code": "some"}), "some is not one of its options"),
    (
        _answer("adherence", valueCoding={"system": "http://example.org", "code": "all"}),
        "all is not one of its options",
    ),
    (_answer("adherence", valueString="all"), "'all' as valueString; choice items are answered with valueCoding"),
    (_twice("systolic"), f"item {SYS}: 2 answers; it takes one"),
    (_repeated_item, "item 'weight' (Body weight): given in 2 items; give its answers in one item"),
    (_answer("notes", valueString="x" * 501), "501 characters; at most 500"),
    (_group_answer, "item 'vitals' (Seated office blood pressure"),
    (_two_values, "item 'weight' (Body weight): an answer has one value, not 2"),
    (_other_form, "it answers the Questionnaire https://careledger.org/trials/ht3/crf/week-8|1, not"),
]


def test_a_full_response_passes_is_complete_and_validates_as_r4() -> None:
    good = response()
    assert crf_problems(FORM, good) == []
    check_response(FORM, good)
    assert crf_complete(FORM, good)
    parse_resource(good)


@pytest.mark.parametrize(("change", "problem"), FAILING)
def test_a_response_failing_one_rule_says_which(change: Callable[[Resource], None], problem: str) -> None:
    bad = response()
    change(bad)
    found = crf_problems(FORM, bad)
    assert len(found) == 1, found
    assert problem in found[0]
    assert not crf_complete(FORM, bad)
    with pytest.raises(ValidationError, match="the response does not fit its CRF") as refused:
        check_response(FORM, bad)
    assert problem in str(refused.value)


def test_a_partial_response_in_progress_is_valid_but_not_complete() -> None:
    partial = response("in-progress")
    _drop("adherence")(partial)
    _drop("systolic")(partial)
    assert crf_problems(FORM, partial) == []
    check_response(FORM, partial)  # a site may save it
    assert not crf_complete(FORM, partial)
    assert not crf_complete(FORM, response("in-progress"))  # all there, yet not completed by the site
    partial["status"] = "completed"
    assert len(crf_problems(FORM, partial)) == 2


def test_a_required_group_left_out_is_one_problem_not_one_per_question() -> None:
    bad = response()
    _drop("vitals")(bad)
    assert crf_problems(FORM, bad) == [
        "item 'vitals' (Seated office blood pressure and pulse (mean of the last tw…): required"
    ]


def test_a_questionnaire_that_cannot_serve_as_a_crf_says_why() -> None:
    form: Resource = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [
            {"linkId": "a", "type": "choice", "text": "A"},
            {
                "linkId": "a",
                "type": "integer",
                "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueString": "1"}],
            },
            {"linkId": "b", "type": "bogus", "text": "B"},
        ],
    }
    assert form_problems(form) == [
        "a CRF needs a url, which its responses name",
        "item 'a': a choice lists its answerOption (answerValueSet is not expanded)",
        "item 'a': minValue as valueString does not fit its type, integer",
        "item 'b': type 'bogus' is not an R4 item type",
        "linkId 'a' is used 2 times",
    ]


def blood_pressure(
    systolic: float, diastolic: float, *, taken: str = "2026-12-07T09:55:00Z", status: str = "final"
) -> Resource:
    """A blood pressure panel as vital signs write it: systolic and diastolic as components."""

    def component(code: str, value: float) -> dict[str, Any]:
        quantity = {"value": value, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
        return {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": quantity}

    return {
        "resourceType": "Observation",
        "id": "bp1",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": taken,
        "component": [component("8480-6", systolic), component("8462-4", diastolic)],
    }


def test_source_check_finds_a_systolic_that_differs_from_that_days_observation() -> None:
    found = source_check(FORM, response(), [blood_pressure(150, 91)], DAY)
    assert found == [Discrepancy("systolic", 142.0, 150.0, "8480-6", "mm[Hg]", "Observation/bp1")]


def test_source_check_finds_nothing_when_the_values_agree() -> None:
    assert source_check(FORM, response(), [blood_pressure(142, 91)], DAY) == []


@pytest.mark.parametrize(
    "observation",
    [blood_pressure(150, 80, taken="2026-12-06T09:55:00Z"), blood_pressure(150, 80, status="entered-in-error")],
)
def test_source_check_compares_only_final_observations_of_that_day(observation: Resource) -> None:
    assert source_check(FORM, response(), [observation], DAY) == []


def test_source_check_agrees_with_any_of_the_days_readings_and_reads_plain_observations() -> None:
    pulse = {
        "resourceType": "Observation",
        "id": "hr1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-12-07",
        "valueQuantity": {"value": 80, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    readings = [blood_pressure(150, 95), {**blood_pressure(142, 91), "id": "bp2"}, pulse]
    assert source_check(FORM, response(), readings, DAY) == [
        Discrepancy("heart-rate", 72.0, 80.0, "8867-4", "/min", "Observation/hr1")
    ]


def test_a_correction_carries_who_when_and_why_and_validates_as_r4() -> None:
    recorded = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    provenance = correction_provenance(
        "QuestionnaireResponse/crf-7/_history/2",
        "Practitioner/dr-lee",
        " transcription error: 124 read as 142 ",
        recorded,
    )
    parse_resource(provenance)
    assert provenance["target"] == [{"reference": "QuestionnaireResponse/crf-7/_history/2"}]
    assert provenance["activity"]["coding"][0]["code"] == "UPDATE"
    assert provenance["reason"] == [{"text": "transcription error: 124 read as 142"}]
    assert provenance["recorded"] == "2026-12-08T14:00:00Z"
    assert provenance["agent"][0]["who"] == {"reference": "Practitioner/dr-lee"}
    by_wallet = correction_provenance(
        "QuestionnaireResponse/crf-7/_history/3", "did:pkh:eip155:31337:0x" + "ab" * 20, "units", recorded
    )
    assert by_wallet["agent"][0]["who"]["identifier"]["value"].startswith("did:pkh:eip155:31337:")


@pytest.mark.parametrize(
    ("target", "reason", "message"),
    [
        ("QuestionnaireResponse/crf-7/_history/2", "", "a correction needs its reason"),
        ("QuestionnaireResponse/crf-7/_history/2", " \n\t", "a correction needs its reason"),
        ("QuestionnaireResponse/crf-7/_history/2", "x" * 1001, "a correction's reason is at most 1000 characters"),
        ("QuestionnaireResponse/crf-7", "typo", "a correction names the version it made"),
        ("Observation/o1/_history/2", "typo", "a correction names the version it made"),
    ],
)
def test_a_correction_without_its_reason_or_version_is_refused(target: str, reason: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        correction_provenance(target, "Practitioner/dr-lee", reason, datetime(2026, 12, 8, tzinfo=UTC))
