"""Notes to codes: the labelled set's present conditions found with precision and recall of at least 0.9, the
other statuses told apart, medications coded by ingredient, drafts only of what the note says she has, had or may
have (a chronic condition's history as hers now, an uncertain one provisional), and a note's answer bounded
whatever it repeats."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pytest

from careledger.errors import TooLarge, ValidationError
from careledger.insight import ICD10, RXNORM, SNOMED, Code
from careledger.insight.knowledge import ingredient_name
from careledger.insight.notes import (
    CONDITIONS,
    MAX_PLACES,
    MAX_SUGGESTIONS,
    MAX_TEXT_BYTES,
    Suggestion,
    as_drafts,
    medications,
    note_text,
    suggest,
)
from careledger.records import parse_resource
from tests.insight.notes.labelled import (
    FAMILY,
    HISTORICAL,
    LABELLED,
    MIXED,
    NEGATED,
    PRESENT,
    UNCERTAIN,
    Labelled,
)

Mention = tuple[int, str, str, str]  # sentence, kind, code, status


def _labelled(cases: Iterable[Labelled]) -> set[Mention]:
    return {
        (n, kind, code, status)
        for n, case in enumerate(cases)
        for kind, found in (("condition", case.conditions), ("medication", case.medications))
        for code, status in found.items()
    }


def _read(text: str, patient: str = "p", source: str | None = None) -> list[Suggestion]:
    """The suggestions of a text short of the cap."""
    reading = suggest(text, patient=patient, source=source)
    assert not reading.truncated
    return list(reading.suggestions)


def _found(cases: Iterable[Labelled]) -> set[Mention]:
    return {(n, s.kind, s.code.code, s.status) for n, case in enumerate(cases) for s in _read(case.text)}


def _statuses(draft: dict[str, object]) -> tuple[str, str]:
    """A Condition draft's clinical and verification status codes."""
    return draft["clinicalStatus"]["coding"][0]["code"], draft["verificationStatus"]["coding"][0]["code"]  # type: ignore[index]


def _scores(gold: set[Mention], found: set[Mention]) -> tuple[float, float]:
    hits = len(gold & found)
    return hits / len(found), hits / len(gold)


def _only(mentions: set[Mention], kind: str, status: str) -> set[Mention]:
    return {m for m in mentions if m[1] == kind and m[3] == status}


def test_the_labelled_set_has_fifty_sentences_of_every_kind() -> None:
    assert len(LABELLED) >= 50
    assert all(len(group) >= 8 for group in (PRESENT, NEGATED, HISTORICAL, FAMILY, UNCERTAIN, MIXED))
    statuses = {status for case in LABELLED for status in (*case.conditions.values(), *case.medications.values())}
    assert statuses == {"present", "negated", "historical", "family", "allergy", "uncertain"}


def test_present_conditions_have_precision_and_recall_of_at_least_0_9() -> None:
    gold, found = _labelled(LABELLED), _found(LABELLED)
    precision, recall = _scores(_only(gold, "condition", "present"), _only(found, "condition", "present"))
    assert precision >= 0.9, precision
    assert recall >= 0.9, recall


@pytest.mark.parametrize("status", ["negated", "historical", "family", "uncertain"])
def test_negated_historical_family_and_uncertain_conditions_are_told_apart(status: str) -> None:
    gold, found = _labelled(LABELLED), _found(LABELLED)
    precision, recall = _scores(_only(gold, "condition", status), _only(found, "condition", status))
    assert precision >= 0.9, (status, precision)
    assert recall >= 0.9, (status, recall)


def test_medications_are_found_by_name_and_brand_as_their_ingredient() -> None:
    gold, found = _labelled(LABELLED), _found(LABELLED)
    precision, recall = _scores(_only(gold, "medication", "present"), _only(found, "medication", "present"))
    assert precision >= 0.9, precision
    assert recall >= 0.9, recall
    (eliquis,) = _read("Started Eliquis 5 mg BID.")
    assert (eliquis.kind, eliquis.code, eliquis.display, eliquis.text) == (
        "medication", Code(RXNORM, "1364430"), "apixaban", "Eliquis"
    )  # fmt: skip


def test_every_medication_is_coded_as_the_knowledge_table_codes_it() -> None:
    known = [m for m in medications() if ingredient_name(m.codes[0]) is not None]
    assert len(known) >= 60
    assert all(m.display == ingredient_name(m.codes[0]) for m in known)


def test_short_abbreviations_match_only_as_written() -> None:
    assert [s.display for s in _read("Walked 2 mi today; MI in 2019.")] == ["Myocardial infarction"]
    assert _read("Sats 97% on RA, PE unremarkable.") == []


def test_a_line_is_a_sentence_a_negation_does_not_cross() -> None:
    found = _read("ROS: denies chest pain\nCOPD\nNo diabetes")
    assert [(s.display, s.status, s.sentence) for s in found] == [
        ("Chronic obstructive pulmonary disease", "present", "COPD"),
        ("Diabetes mellitus", "negated", "No diabetes"),
    ]


def test_a_suggestion_says_where_it_is_in_the_note() -> None:
    text = "Seen today. Patient has HTN and takes lisinopril."
    htn, lisinopril = _read(text)
    assert (text[htn.start : htn.end], htn.text, htn.sentence) == (
        "HTN",
        "HTN",
        "Patient has HTN and takes lisinopril.",
    )
    assert htn.codes == (Code(SNOMED, "38341003"), Code(ICD10, "I10"))
    assert text[lisinopril.start : lisinopril.end] == "lisinopril"


def test_drafts_are_valid_fhir_citing_the_words_they_came_from() -> None:
    text = "HTN on lisinopril. History of MI. Previously on warfarin."
    drafts = list(as_drafts(_read(text, patient="p-1", source="DocumentReference/n-1")).values())
    assert [parse_resource(d)["resourceType"] for d in drafts] == [
        "Condition", "MedicationStatement", "Condition", "MedicationStatement"
    ]  # fmt: skip
    htn, lisinopril, mi, warfarin = drafts
    assert htn["clinicalStatus"]["coding"][0]["code"] == "active"
    assert htn["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert [c["code"] for c in htn["code"]["coding"]] == ["38341003", "I10"]
    assert htn["subject"] == {"reference": "Patient/p-1"}
    assert htn["evidence"] == [{"detail": [{"reference": "DocumentReference/n-1"}]}]
    assert '"HTN" (characters 0 to 3 of DocumentReference/n-1' in htn["note"][0]["text"]
    assert mi["clinicalStatus"]["coding"][0]["code"] == "inactive"
    assert (lisinopril["status"], warfarin["status"]) == ("active", "completed")
    assert lisinopril["derivedFrom"] == [{"reference": "DocumentReference/n-1"}]
    assert lisinopril["medicationCodeableConcept"]["coding"] == [{"system": RXNORM, "code": "29046"}]


def test_nothing_negated_of_the_family_or_an_allergen_is_drafted() -> None:
    found = _read("No CHF. Mother has breast cancer. Allergic to amoxicillin.")
    assert [s.status for s in found] == ["negated", "family", "allergy"]
    assert not any(s.drafted or s.certain for s in found)
    assert as_drafts(found) == {}


def test_a_concept_mentioned_twice_is_drafted_once_as_present() -> None:
    text = "History of afib. Now in afib again, on Eliquis. Continue Eliquis."
    found = _read(text)
    assert [(s.text, s.status, s.mentions) for s in found] == [
        ("afib", "historical", 1), ("afib", "present", 1), ("Eliquis", "present", 2)
    ]  # fmt: skip
    assert [text[start:end] for start, end in found[2].places] == ["Eliquis", "Eliquis"]
    drafts = as_drafts(found)
    assert list(drafts) == ["49436004", "1364430"]
    assert _statuses(drafts["49436004"]) == ("active", "confirmed")
    assert "Now in afib again" in drafts["49436004"]["note"][0]["text"]
    assert "mentioned 2 times" in drafts["1364430"]["note"][0]["text"]


@pytest.mark.parametrize(
    "text",
    [
        "Hx of HTN, on lisinopril.",
        "History of hypertension.",
        "PMH: h/o HTN",
        "Remote history of HTN, well controlled.",
    ],
)
def test_a_chronic_condition_s_history_is_drafted_as_hers_now(text: str) -> None:
    (htn,) = [s for s in _read(text) if s.kind == "condition"]
    assert (htn.status, htn.current, htn.certain) == ("historical", True, True)
    draft = as_drafts([htn])["38341003"]
    assert _statuses(draft) == ("active", "confirmed")
    assert "a chronic condition she still has" in draft["note"][0]["text"]


@pytest.mark.parametrize(
    ("text", "code"),
    [("History of pneumonia.", "233604007"), ("Status post MI.", "22298006"), ("Asthma as a child, resolved.",
     "195967001"), ("Hypertension resolved after weight loss.", "38341003"), ("Previously on warfarin.", "11289")],
)  # fmt: skip
def test_an_episode_or_a_condition_the_note_says_is_over_is_drafted_as_past(text: str, code: str) -> None:
    (found,) = _read(text)
    assert (found.status, found.current, found.draft_key) == ("historical", False, f"{code}:past")
    draft = as_drafts([found])[f"{code}:past"]
    assert draft.get("status", "") == "completed" or _statuses(draft) == ("inactive", "confirmed")


@pytest.mark.parametrize(
    "text",
    ["Possible pneumonia.", "Probable pneumonia.", "Suspected pneumonia.", "Rule out pneumonia.",
     "r/o pneumonia", "Pneumonia cannot be excluded.", "Bronchitis versus pneumonia."],
)  # fmt: skip
def test_an_uncertain_condition_is_drafted_provisional_and_not_certain(text: str) -> None:
    (pneumonia,) = _read(text)
    assert (pneumonia.status, pneumonia.drafted, pneumonia.certain) == ("uncertain", True, False)
    assert _statuses(as_drafts([pneumonia])["233604007"]) == ("active", "provisional")


def test_a_past_episode_and_a_possible_new_one_are_two_drafts_and_a_certain_one_wins_over_a_possible_one() -> None:
    drafts = as_drafts(_read("History of pneumonia, resolved. Possible pneumonia again."))
    assert {key: _statuses(d) for key, d in drafts.items()} == {
        "233604007:past": ("inactive", "confirmed"), "233604007": ("active", "provisional")
    }  # fmt: skip
    drafts = as_drafts(_read("Possible pneumonia on admission. Chest x-ray confirms pneumonia."))
    assert {key: _statuses(d) for key, d in drafts.items()} == {"233604007": ("active", "confirmed")}
    assert "Chest x-ray confirms" in drafts["233604007"]["note"][0]["text"]


def test_a_ruled_out_finding_is_negated_and_one_to_rule_out_uncertain() -> None:
    assert [s.status for s in _read("CT ruled out pulmonary embolism. Rule out DVT.")] == ["negated", "uncertain"]


def test_a_note_repeating_one_word_is_one_suggestion_with_its_places_capped() -> None:
    text = "HTN " * (MAX_TEXT_BYTES // 4)
    (htn,) = _read(text)
    assert htn.mentions == MAX_TEXT_BYTES // 4
    assert len(htn.places) == MAX_PLACES
    assert all(text[start:end] == "HTN" for start, end in htn.places)
    assert len(as_drafts([htn])) == 1


def test_past_the_cap_suggestions_are_left_out_and_the_reading_says_so() -> None:
    terms = [c.terms[0] for c in (*CONDITIONS, *medications())]
    text = "\n".join(f"{t}.\nNo {t}.\nHistory of {t}.\nMother has {t}.\nPossible {t}." for t in terms)
    assert len(text.encode()) <= MAX_TEXT_BYTES
    reading = suggest(text, patient="p")
    assert reading.truncated
    assert len(reading.suggestions) == MAX_SUGGESTIONS
    assert reading.suggestions[0].display == "Hypertension"
    assert not suggest("HTN. No CHF.", patient="p").truncated


def test_a_text_over_the_limit_is_refused() -> None:
    with pytest.raises(TooLarge):
        suggest("HTN " + "é" * (MAX_TEXT_BYTES // 2), patient="p")  # fewer characters than bytes: bytes count
    assert [s.text for s in _read("HTN " + "x" * (MAX_TEXT_BYTES - 4))] == ["HTN"]


def test_a_text_that_is_no_unicode_is_refused() -> None:
    with pytest.raises(ValidationError, match="lone surrogate"):
        suggest("HTN \ud800", patient="p")


def test_threads_reading_at_once_get_what_one_reader_gets() -> None:
    texts = [case.text for case in LABELLED]
    alone = [suggest(text, patient="p") for text in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda text: suggest(text, patient="p"), texts * 3))
    assert together == alone * 3


def test_a_stored_note_s_text_is_read_from_its_attachment_or_narrative() -> None:
    data = base64.b64encode(b"Pt has HTN.").decode()
    document = {
        "resourceType": "DocumentReference",
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
    }
    assert note_text(document) == "Pt has HTN."
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>No CHF</p><p>COPD &amp; HTN</p></div>'
    composition = {
        "resourceType": "Composition",
        "title": "Visit",
        "section": [{"title": "Plan", "text": {"div": div}}],
    }
    assert [(s.text, s.status) for s in _read(note_text(composition))] == [
        ("CHF", "negated"), ("COPD", "present"), ("HTN", "present")
    ]  # fmt: skip


@pytest.mark.parametrize(
    "attachment",
    [{"contentType": "application/pdf", "data": "JVBERi0="}, {"contentType": "text/plain", "url": "http://x/n.txt"},
     {"contentType": "text/plain", "data": "not base64!"}],
)  # fmt: skip
def test_a_note_without_inline_text_is_refused(attachment: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        note_text({"resourceType": "DocumentReference", "content": [{"attachment": attachment}]})


def test_a_suggestion_is_a_frozen_value() -> None:
    (htn,) = _read("HTN")
    assert isinstance(htn, Suggestion)
    with pytest.raises(AttributeError):
        htn.status = "negated"  # type: ignore[misc]
