"""Search tokens come from the specification's search parameters, by each parameter's kind."""

from __future__ import annotations

from careledger.records._blind_index import END_DAY
from careledger.records._search import FhirDate
from careledger.records._tokens import Token, tokens
from careledger.testdata import synthetic_patients


def _day(text: str) -> int:
    return FhirDate.parse(text).first_day


def test_observation_tokens() -> None:
    observation = next(r for r in synthetic_patients(1, seed=2)[0].records if r["resourceType"] == "Observation")
    found = set(tokens(observation))
    coding = observation["code"]["coding"][0]
    assert Token("code", "http://loinc.org", coding["code"], coded=True) in found
    assert Token("status", "", "final", coded=True) in found
    assert Token("date:s", day=_day(observation["effectiveDateTime"])) in found
    assert Token("subject", value=observation["subject"]["reference"]) in found
    assert Token("patient", value=observation["subject"]["reference"]) in found
    assert Token("category:present", value="1") not in found  # its codes say it has one


def test_a_value_with_no_term_of_its_own_is_still_present() -> None:
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p"}, "code": {"text": "a cough"}}
    found = set(tokens(condition))
    assert Token("code:present", value="1") in found
    assert not any(token.param == "code" for token in found)


def test_patient_tokens_are_the_specs_names() -> None:
    patient = synthetic_patients(1, seed=2)[0].patient
    found = set(tokens(patient))
    identifier = patient["identifier"][0]
    assert Token("identifier", identifier["system"], identifier["value"], coded=True) in found
    assert Token("birthdate:s", day=_day(patient["birthDate"])) in found
    family = patient["name"][0]["family"]
    assert Token("family:exact", value=family) in found
    assert Token("family", value=family[:2].casefold()) in found  # a prefix, normalized
    assert Token("name", value=family[:3].casefold()) in found
    assert Token("gender", value=patient["gender"], coded=True) in found


def test_a_period_indexes_its_first_and_last_day_and_an_open_end_is_open() -> None:
    encounter = {"resourceType": "Encounter", "status": "finished", "period": {"start": "2026-01-02T03:04:05Z"}}
    found = set(tokens(encounter))
    assert Token("date:s", day=_day("2026-01-02")) in found
    assert Token("date:e", day=END_DAY - 1) in found
    closed = {**encounter, "period": {"start": "2026-01-02", "end": "2026-01-05"}}
    assert Token("date:e", day=_day("2026-01-05")) in set(tokens(closed))


def test_references_by_identifier_and_absolute_urls() -> None:
    request = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "aspirin"},
        "subject": {"reference": "https://node.example/fhir/Patient/p1/_history/2"},
        "requester": {"identifier": {"system": "urn:npi", "value": "123"}},
    }
    found = set(tokens(request))
    assert Token("subject", value="Patient/p1") in found
    assert Token("requester:identifier", "urn:npi", "123", coded=True) in found
