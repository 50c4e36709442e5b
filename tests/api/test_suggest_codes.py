"""`POST /Patient/{id}/$suggest-codes`: suggestions and drafts answered, nothing stored until the clinician writes
the drafts she keeps; a long text 413, a malformed body 400, and a caller who may not see the patient told as an
unknown id is.

One node behind a real HTTP server for the module: Dr Bob, of the node's care team, registers a patient and asks;
Mallory, a practitioner outside it, asks of the same patient.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from tests.access.conftest import built_world
from tests.api.conftest import serving

NOTE = "Pt has HTN and takes lisinopril. History of MI. No CHF. Mother had breast cancer."


@dataclass
class Ward:
    bob: httpx.Client
    mallory: httpx.Client
    url: str
    patient: str


@pytest.fixture(scope="module")
def ward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    with built_world(Path(tmp_path_factory.mktemp("suggest")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        bob, mallory = api.client(world.drbob), api.client(world.mallory)
        created = bob.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Notes"}]})
        assert created.status_code == 201, created.text
        yield Ward(bob, mallory, api.url, created.json()["id"])
        bob.close()
        mallory.close()


def _ask(http: httpx.Client, patient: str, **values: Any) -> httpx.Response:
    parameters = [{"name": name, **value} for name, value in values.items()]
    return http.post(f"/Patient/{patient}/$suggest-codes", json={"resourceType": "Parameters", "parameter": parameters})


def _suggestions(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Each suggestion's parts by name (codes as a list, places as (start, end) pairs)."""
    found = []
    for parameter in answer["parameter"]:
        if parameter["name"] == "suggestion":
            parts: dict[str, Any] = {"code": [], "place": []}
            for part in parameter["part"]:
                if part["name"] == "place":
                    parts["place"].append(tuple(p["valueInteger"] for p in part["part"]))
                    continue
                value = next(v for k, v in part.items() if k.startswith("value"))
                if part["name"] == "code":
                    parts["code"].append(value["code"])
                else:
                    parts[part["name"]] = value
            found.append(parts)
    return found


def _truncated(answer: dict[str, Any]) -> bool:
    return bool(next(p["valueBoolean"] for p in answer["parameter"] if p["name"] == "truncated"))


def _drafts(answer: dict[str, Any]) -> dict[str, Any]:
    return next(p["resource"] for p in answer["parameter"] if p["name"] == "drafts")


def _stored(http: httpx.Client, patient: str) -> int:
    totals = [
        http.get(f"/{kind}", params={"patient": patient}).json()["total"]
        for kind in ("Condition", "MedicationStatement")
    ]
    return sum(totals)


def test_suggestions_and_drafts_are_answered_and_nothing_is_stored(ward: Ward) -> None:
    answer = _ask(ward.bob, ward.patient, text={"valueString": NOTE})
    assert answer.status_code == 200, answer.text
    found = _suggestions(answer.json())
    assert [(s["text"], s["status"]) for s in found] == [
        ("HTN", "present"), ("lisinopril", "present"), ("MI", "historical"), ("CHF", "negated"),
        ("breast cancer", "family"),
    ]  # fmt: skip
    assert found[0]["code"] == ["38341003", "I10"]
    assert NOTE[found[0]["start"] : found[0]["end"]] == "HTN"
    assert (found[0]["mentions"], found[0]["place"]) == (1, [(found[0]["start"], found[0]["end"])])
    assert not _truncated(answer.json())
    bundle = _drafts(answer.json())
    assert bundle["type"] == "transaction"
    entries = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    assert [found[n]["draft"] in entries for n in range(3)] == [True, True, True]
    assert not any("draft" in s for s in found[3:])  # negated and family: shown, never drafted
    assert [r["resourceType"] for r in entries.values()] == ["Condition", "MedicationStatement", "Condition"]
    assert all(r["subject"] == {"reference": f"Patient/{ward.patient}"} for r in entries.values())
    assert _stored(ward.bob, ward.patient) == 0


def test_the_drafts_she_keeps_are_written_by_her_own_transaction(ward: Ward) -> None:
    bundle = _drafts(_ask(ward.bob, ward.patient, text={"valueString": "Known COPD. Stopped metformin."}).json())
    kept = {**bundle, "entry": [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]}
    written = ward.bob.post("/", json=kept)
    assert written.status_code == 200, written.text
    conditions = ward.bob.get("/Condition", params={"patient": ward.patient}).json()
    assert [e["resource"]["code"]["text"] for e in conditions["entry"]] == ["Chronic obstructive pulmonary disease"]
    assert ward.bob.get("/MedicationStatement", params={"patient": ward.patient}).json()["total"] == 0
    ward.bob.delete(f"/Condition/{conditions['entry'][0]['resource']['id']}")


def test_a_stored_note_is_read_through_the_door_and_cited(ward: Ward) -> None:
    data = base64.b64encode(b"Assessment: type 2 diabetes, on Jardiance.").decode()
    document = {
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{ward.patient}"},
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
    }  # fmt: skip
    created = ward.bob.post("/DocumentReference", json=document)
    assert created.status_code == 201, created.text
    note = f"DocumentReference/{created.json()['id']}"
    answer = _ask(ward.bob, ward.patient, note={"valueReference": {"reference": note}})
    assert answer.status_code == 200, answer.text
    assert [s["display"] for s in _suggestions(answer.json())] == ["Type 2 diabetes mellitus", "empagliflozin"]
    condition, medication = (e["resource"] for e in _drafts(answer.json())["entry"])
    assert condition["evidence"] == [{"detail": [{"reference": note}]}]
    assert medication["derivedFrom"] == [{"reference": note}]
    refused = _ask(ward.mallory, ward.patient, note={"valueReference": {"reference": note}})
    assert refused.status_code == 404
    assert _ask(ward.bob, ward.patient, note={"valueString": "Observation/x"}).status_code == 400


def test_a_note_repeating_one_word_is_answered_as_one_suggestion(ward: Ward) -> None:
    text = "HTN " * (64 * 1024 // 4)
    answer = _ask(ward.bob, ward.patient, text={"valueString": text})
    assert answer.status_code == 200, answer.text[:400]
    assert len(answer.content) < 16 * 1024  # was 13 MB: a suggestion per mention
    (htn,) = _suggestions(answer.json())
    assert (htn["status"], htn["mentions"], len(htn["place"])) == ("present", len(text) // 4, 20)
    assert all(text[start:end] == "HTN" for start, end in htn["place"])
    assert len(_drafts(answer.json())["entry"]) == 1


def test_a_chronic_history_is_drafted_active_and_a_possible_finding_provisional(ward: Ward) -> None:
    answer = _ask(ward.bob, ward.patient, text={"valueString": "Hx of HTN. Possible pneumonia."})
    assert [(s["text"], s["status"]) for s in _suggestions(answer.json())] == [
        ("HTN", "historical"), ("pneumonia", "uncertain")
    ]  # fmt: skip
    htn, pneumonia = (e["resource"] for e in _drafts(answer.json())["entry"])
    assert htn["clinicalStatus"]["coding"][0]["code"] == "active"
    assert htn["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert pneumonia["verificationStatus"]["coding"][0]["code"] == "provisional"


def test_a_text_over_64_kib_is_413(ward: Ward) -> None:
    answer = _ask(ward.bob, ward.patient, text={"valueString": "HTN " + "x" * 64 * 1024})
    assert answer.status_code == 413
    assert answer.json()["issue"][0]["code"] == "too-costly"


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Bundle"},
        {"resourceType": "Parameters"},
        {"resourceType": "Parameters", "parameter": [{"name": "text", "valueInteger": 3}]},
        {"resourceType": "Parameters", "parameter": [{"name": "text", "valueString": "HTN"}] * 2},
        {"resourceType": "Parameters", "parameter": [
            {"name": "text", "valueString": "HTN"}, {"name": "note", "valueString": "Composition/c"}]},
        {"resourceType": "Parameters", "parameter": [{"valueString": "HTN"}]},
        [1, 2],
    ],
)  # fmt: skip
def test_a_malformed_body_is_400(ward: Ward, body: object) -> None:
    answer = ward.bob.post(f"/Patient/{ward.patient}/$suggest-codes", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_not_json_is_400(ward: Ward) -> None:
    answer = ward.bob.post(
        f"/Patient/{ward.patient}/$suggest-codes", content=b"{", headers={"Content-Type": "application/fhir+json"}
    )
    assert answer.status_code == 400


def test_a_caller_who_may_not_see_the_patient_is_told_as_an_unknown_id_is(ward: Ward) -> None:
    text = {"valueString": NOTE}
    withheld = _ask(ward.mallory, ward.patient, text=text)
    unknown = _ask(ward.mallory, "no-such-patient", text=text)
    assert (withheld.status_code, unknown.status_code) == (404, 404)
    words = [
        a.json()["issue"][0]["diagnostics"].replace(p, "ID")
        for a, p in ((withheld, ward.patient), (unknown, "no-such-patient"))
    ]
    assert words[0] == words[1]
    assert "HTN" not in withheld.text


def test_a_record_of_another_type_is_no_patient(ward: Ward) -> None:
    created = ward.bob.post(
        "/Condition",
        json={"resourceType": "Condition", "subject": {"reference": f"Patient/{ward.patient}"}, "code": {"text": "x"}},
    )
    assert created.status_code == 201, created.text
    assert _ask(ward.bob, created.json()["id"], text={"valueString": NOTE}).status_code == 404
    ward.bob.delete(f"/Condition/{created.json()['id']}")


def test_no_sign_in_is_401(ward: Ward) -> None:
    answer = httpx.post(f"{ward.url}/Patient/{ward.patient}/$suggest-codes", json={"resourceType": "Parameters"})
    assert answer.status_code == 401


def test_a_lone_surrogate_or_a_nul_in_the_text_is_no_500(ward: Ward) -> None:
    for text in ("HTN \\ud800 CHF", "HTN \\u0000 DM2"):
        body = '{"resourceType": "Parameters", "parameter": [{"name": "text", "valueString": "' + text + '"}]}'
        answer = ward.bob.post(
            f"/Patient/{ward.patient}/$suggest-codes", content=body, headers={"Content-Type": "application/fhir+json"}
        )
        assert answer.status_code in (200, 400), answer.text
