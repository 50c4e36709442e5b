"""An adverse event in her record (R4 AdverseEvent), and the safety report that leaves the site without her name,
her reference or the record's words."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from careledger.errors import ValidationError
from careledger.records import parse_resource
from careledger.trials import adverse_event, is_serious, safety_report

ANGIOEDEMA = {"system": "http://snomed.info/sct", "code": "41291007", "display": "Angioedema"}
PARTICIPANT = "0x" + "5a" * 32
SITE = "0x" + "ab" * 20
DESCRIPTION = "Mrs Jane Roe, 56, woke with a swollen tongue <lips & face>; admitted to ward 4"


def test_a_serious_adverse_event_validates_as_r4_with_its_study_and_codes() -> None:
    event = adverse_event(
        "Patient/p1",
        "ResearchStudy/t7",
        ANGIOEDEMA,
        True,
        "severe",
        datetime(2026, 12, 7, 6, 30, tzinfo=UTC),
        DESCRIPTION,
    )
    parse_resource(event)
    assert event["actuality"] == "actual"
    assert event["event"]["coding"] == [ANGIOEDEMA]
    assert event["subject"] == {"reference": "Patient/p1"}
    assert event["study"] == [{"reference": "ResearchStudy/t7"}]
    assert event["date"] == "2026-12-07T06:30:00Z"
    assert event["seriousness"]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness", "code": "serious"}
    ]
    assert event["severity"]["coding"][0]["code"] == "severe"
    assert "&lt;lips &amp; face&gt;" in event["text"]["div"]  # the description, escaped, in her record only
    assert is_serious(event)


def test_a_non_serious_one_is_coded_so_and_needs_no_description() -> None:
    event = adverse_event("Patient/p1", "ResearchStudy/t7", ANGIOEDEMA, False, "mild", date(2026, 12, 7))
    parse_resource(event)
    assert event["seriousness"]["coding"][0]["code"] == "non-serious"
    assert event["date"] == "2026-12-07"
    assert "text" not in event
    assert not is_serious(event)


@pytest.mark.parametrize(
    ("code", "severity", "message"),
    [
        (ANGIOEDEMA, "life-threatening", "severity is one of mild, moderate, severe, not 'life-threatening'"),
        ({"code": "41291007"}, "mild", "an adverse event's code is a Coding with a system and a code"),
        ({"system": "http://snomed.info/sct"}, "mild", "an adverse event's code is a Coding with a system and a code"),
    ],
)
def test_a_malformed_adverse_event_is_refused(code: dict[str, str], severity: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        adverse_event("Patient/p1", "ResearchStudy/t7", code, True, severity, date(2026, 12, 7))


def test_the_safety_report_names_no_one_and_keeps_the_records_words_home() -> None:
    event = adverse_event(
        "Patient/p1",
        "ResearchStudy/t7",
        ANGIOEDEMA,
        True,
        "severe",
        datetime(2026, 12, 7, 6, 30, tzinfo=UTC),
        DESCRIPTION,
    )
    report = safety_report(event, 7, PARTICIPANT, SITE)
    assert report == {
        "trial_id": 7,
        "participant": PARTICIPANT,
        "site": "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB",
        "event": ANGIOEDEMA,
        "serious": True,
        "severity": "severe",
        "date": "2026-12-07",
    }
    sent = json.dumps(report)
    assert "Patient" not in sent
    assert "Roe" not in sent
    assert "swollen" not in sent


def test_a_narrative_goes_only_when_the_site_writes_one() -> None:
    event = adverse_event("Patient/p1", "ResearchStudy/t7", ANGIOEDEMA, True, "severe", date(2026, 12, 7), DESCRIPTION)
    report = safety_report(event, 7, PARTICIPANT, SITE, narrative="  Tongue and lip swelling on day 12; resolved.  ")
    assert report["narrative"] == "Tongue and lip swelling on day 12; resolved."
    assert "narrative" not in safety_report(event, 7, PARTICIPANT, SITE, narrative="   ")
    with pytest.raises(ValidationError, match="narrative is at most 2000 characters"):
        safety_report(event, 7, PARTICIPANT, SITE, narrative="x" * 2001)


@pytest.mark.parametrize(
    ("event", "participant", "site", "message"),
    [
        ({"resourceType": "Observation"}, PARTICIPANT, SITE, "a safety report is made of an AdverseEvent"),
        ({"resourceType": "AdverseEvent", "event": {"text": "rash"}}, PARTICIPANT, SITE, "has no coded event"),
        (None, "0x" + "5A" * 32, SITE, "a participant id is 0x and 64 lower-case hex digits"),
        (None, PARTICIPANT, "site-1", "a site is an address, not 'site-1'"),
    ],
)
def test_a_safety_report_of_the_wrong_thing_is_refused(
    event: dict[str, object] | None, participant: str, site: str, message: str
) -> None:
    made = adverse_event("Patient/p1", "ResearchStudy/t7", ANGIOEDEMA, True, "severe", date(2026, 12, 7))
    with pytest.raises(ValidationError, match=message):
        safety_report(made if event is None else event, 7, participant, site)
