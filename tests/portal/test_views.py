"""Resources as the portal shows them, and what its forms write, without a server."""

from __future__ import annotations

import base64
import math

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from careledger.errors import ValidationError
from careledger.portal._forms import MEASURES, note, observation, patient_resource
from careledger.portal._views import describe, fields, interaction, line, series, words

BLOOD_PRESSURE = {
    "resourceType": "Observation",
    "id": "bp-1",
    "status": "final",
    "category": [{"coding": [{"code": "vital-signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
    "effectiveDateTime": "2026-03-01T08:00:00Z",
    "component": [
        {"code": {"text": "Systolic"}, "valueQuantity": {"value": 128, "unit": "mm[Hg]"}},
        {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 82, "unit": "mm[Hg]"}},
    ],
}


def test_a_record_reads_as_words() -> None:
    item = line(BLOOD_PRESSURE)
    assert (item.when, item.title, item.category) == ("2026-03-01T08:00:00Z", "Blood pressure panel", "vitals")
    assert item.detail == "Systolic: 128 mmHg; Diastolic: 82 mmHg"  # UCUM's mm[Hg] as people print it
    labels = dict(fields(BLOOD_PRESSURE))
    assert "Id" not in labels
    assert labels["Effective date time"] == "2026-03-01T08:00:00Z"
    assert words("valueCodeableConcept") == "Value codeable concept"
    assert describe({"reference": "Patient/1"}) == "Patient/1"
    assert describe({"start": "2026-01-01"}) == "2026-01-01 to …"
    nested: dict[str, object] = {"a": {}}
    cursor = nested["a"]
    for _ in range(10):
        assert isinstance(cursor, dict)
        cursor["a"] = {}
        cursor = cursor["a"]
    assert "…" in describe(nested)  # deep input stops, it does not recurse forever


def test_numeric_observations_become_chart_series_oldest_first() -> None:
    later = {**BLOOD_PRESSURE, "effectiveDateTime": "2026-04-01T08:00:00Z"}
    text = {**BLOOD_PRESSURE, "component": [], "valueString": "high"}
    found = series([later, BLOOD_PRESSURE, text])
    assert list(found) == ["Diastolic", "Systolic"]
    assert [p["y"] for p in found["Systolic"]] == [128, 128]
    assert found["Systolic"][0]["x"] < found["Systolic"][1]["x"]


def test_the_staff_forms_write_valid_fhir() -> None:
    made = observation("p-1", "2345-7", "98.5")
    Observation.model_validate(made)
    assert made["valueQuantity"] == {
        "value": 98.5,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert line(made).category == "labs"
    written = note("p-1", "Feels better; no fever", author="0xabc")
    DocumentReference.model_validate(written)
    assert base64.b64decode(written["content"][0]["attachment"]["data"]).decode() == "Feels better; no fever"
    assert line(written).detail == "Feels better; no fever"
    person = patient_resource(given="Ada", family="Lovelace", birth_date="1815-12-10", record_id="p-2")
    Patient.model_validate(person)
    assert line(person).title == "Patient: Ada Lovelace"
    assert set(MEASURES) >= {"8867-4", "2345-7"}


@pytest.mark.parametrize(
    ("code", "value", "complaint"),
    [("0000-0", "1", "unknown measurement"), ("8867-4", "fast", "is a number"), ("8867-4", str(math.inf), "finite")],
)
def test_a_bad_measurement_is_refused(code: str, value: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        observation("p-1", code, value)


@pytest.mark.parametrize(
    ("born", "complaint"), [("10/12/1815", "YYYY-MM-DD"), ("2026-02-30", "not a date"), ("2999-01-01", "future")]
)
def test_a_bad_birth_date_is_refused(born: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        patient_resource(given="A", family="B", birth_date=born, record_id="x")


def test_an_audit_entry_reads_as_what_happened() -> None:
    assert interaction("search-type", 3) == "searched and saw 3 records"
    assert interaction("read", 1) == "read 1 record"
    assert interaction("break-glass", 0) == "broke the glass to your records"
    assert interaction("something-new", 0) == "something new"


def test_a_burnt_claim_code_reads_as_voided_in_her_accounting() -> None:
    burnt = interaction("claim-code-burnt", 0)
    assert burnt == "voided, after too many wrong tries, the claim code for your records"
