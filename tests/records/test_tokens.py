"""Search tokens extracted from resources."""

from __future__ import annotations

from careledger.records._tokens import Token, tokens
from careledger.testdata import synthetic_patients


def test_observation_tokens() -> None:
    observation = next(r for r in synthetic_patients(1, seed=2)[0].records if r["resourceType"] == "Observation")
    found = set(tokens(observation))
    coding = observation["code"]["coding"][0]
    assert Token("code", "http://loinc.org", coding["code"]) in found
    assert Token("status", "", "final") in found
    assert Token("date", "", observation["effectiveDateTime"]) in found


def test_patient_and_immunization_tokens() -> None:
    patient = synthetic_patients(1, seed=2)[0]
    found = set(tokens(patient.patient))
    identifier = patient.patient["identifier"][0]
    assert Token("identifier", identifier["system"], identifier["value"]) in found
    assert Token("date", "", patient.patient["birthDate"]) in found
    immunization = next(r for r in patient.records if r["resourceType"] == "Immunization")
    cvx = immunization["vaccineCode"]["coding"][0]
    assert Token("code", "http://hl7.org/fhir/sid/cvx", cvx["code"]) in set(tokens(immunization))


def test_encounter_date_comes_from_its_period() -> None:
    encounter = {"resourceType": "Encounter", "status": "finished", "period": {"start": "2026-01-02T03:04:05Z"}}
    assert Token("date", "", "2026-01-02T03:04:05Z") in set(tokens(encounter))
