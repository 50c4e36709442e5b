"""`$assess` over HTTP, as a stock client sends it: the PCE worked example scored from a chart the care team wrote,
traced to its records; a missing HDL said, not guessed; a stranger told what an unknown id tells; `write=true`
stores the RiskAssessment as the caller, and it reads back; malformed Parameters are 400. One world and one real
server for the module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from careledger.access import AFFILIATION
from careledger.config import NODE_WALLET
from careledger.insight import RXNORM
from careledger.insight.cds import GATHERED
from careledger.insight.scores import SCORES
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.insight import charts

PCE = "pce-ascvd-10y"


@dataclass(frozen=True)
class Chart:
    """The server, the care team's client, and two patients: one with every input, one without HDL."""

    api: Api
    http: httpx.Client
    full: str
    no_hdl: str
    ids: dict[str, str]


def _post(http: httpx.Client, body: dict[str, Any]) -> str:
    response = http.post(f"/{body['resourceType']}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chart]:
    with built_world(Path(tmp_path_factory.mktemp("assess")) / "home") as world, serving(world) as api:
        registry = world.node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(world.drbob.address, AFFILIATION, int(time.time()) + 3600)
        http = api.client(world.drbob)
        today = datetime.now(UTC).date()
        full = _post(http, charts.patient(today, mrn="MRN-FULL"))
        ids = {name: _post(http, body) for name, body in charts.records(full, today).items()}
        no_hdl = _post(http, charts.patient(today, mrn="MRN-NO-HDL"))
        for body in charts.records(no_hdl, today, hdl=False).values():
            _post(http, body)
        yield Chart(api, http, full, no_hdl, ids)


def _entries(response: httpx.Response, resource_type: str) -> list[dict[str, Any]]:
    body = response.json()
    assert (body["resourceType"], body["type"]) == ("Bundle", "collection")
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == resource_type]


def test_the_worked_example_is_a_risk_assessment_traced_to_its_records(chart: Chart) -> None:
    response = chart.http.get(f"/Patient/{chart.full}/$assess", params={"score": PCE})
    assert response.status_code == 200, response.text
    (assessment,) = _entries(response, "RiskAssessment")
    assert assessment["subject"] == {"reference": f"Patient/{chart.full}"}
    basis = [b["reference"] for b in assessment["basis"]]
    assert basis[0] == f"Patient/{chart.full}"  # age and sex, from her Patient resource: once
    assert set(basis[1:]) == {f"Observation/{i}" for i in chart.ids.values()}
    assert len(basis) == len(set(basis))
    assert round(assessment["prediction"][0]["probabilityDecimal"], 3) == charts.WHITE_WOMAN_RISK
    method = assessment["method"]["coding"][0]
    assert (method["code"], method["version"]) == (PCE, "ACC/AHA Pooled Cohort Equations 2013 (Goff 2014, Table A)")
    assert _entries(response, "OperationOutcome") == []  # nothing it could not compute
    assert "id" not in assessment  # computed, not stored


def test_a_missing_hdl_is_said_in_the_outcome(chart: Chart) -> None:
    response = chart.http.post(
        f"/Patient/{chart.no_hdl}/$assess",
        json={"resourceType": "Parameters", "parameter": [{"name": "score", "valueString": PCE}]},
    )
    assert response.status_code == 200, response.text
    assert _entries(response, "RiskAssessment") == []
    (outcome,) = _entries(response, "OperationOutcome")
    assert [(i["severity"], i["diagnostics"]) for i in outcome["issue"]] == [
        ("information", "cannot compute: no HDL cholesterol in the last 5 years")
    ]


def test_every_score_is_answered_when_none_is_named(chart: Chart) -> None:
    response = chart.http.get(f"/Patient/{chart.full}/$assess")
    assert response.status_code == 200, response.text
    computed = [r["method"]["coding"][0]["code"] for r in _entries(response, "RiskAssessment")]
    computed += [r["method"]["coding"][0]["code"] for r in _entries(response, "Observation")]
    issues = [i["details"]["coding"][0]["code"] for o in _entries(response, "OperationOutcome") for i in o["issue"]]
    assert sorted(computed + issues) == sorted(s.id for s in SCORES)


def test_a_medication_by_reference_is_read_through_the_door(chart: Chart) -> None:
    today = datetime.now(UTC).date()
    treated = _post(chart.http, charts.patient(today, mrn="MRN-TREATED"))
    for body in charts.records(treated, today).values():
        _post(chart.http, body)
    lisinopril = {"resourceType": "Medication", "code": {"coding": [{"system": RXNORM, "code": "314076"}]}}
    request = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{treated}"},
        "medicationReference": {"reference": f"Medication/{_post(chart.http, lisinopril)}"},
    }
    ordered = _post(chart.http, request)
    response = chart.http.get(f"/Patient/{treated}/$assess", params={"score": PCE})
    (assessment,) = _entries(response, "RiskAssessment")
    assert f"MedicationRequest/{ordered}" in {b["reference"] for b in assessment["basis"]}
    assert assessment["prediction"][0]["probabilityDecimal"] > charts.WHITE_WOMAN_RISK  # treated: a higher risk


def test_a_stranger_is_told_what_an_unknown_id_tells(chart: Chart) -> None:
    stranger = chart.api.client(chart.api.world.mallory)  # a practitioner, not of the care team, no consent
    refused = stranger.get(f"/Patient/{chart.full}/$assess", params={"score": PCE})
    unknown = chart.http.get("/Patient/no-such-patient/$assess", params={"score": PCE})
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["issue"][0]["code"] == unknown.json()["issue"][0]["code"]
    assert httpx.get(f"{chart.api.url}/Patient/{chart.full}/$assess").status_code == 401  # and no one signed in


def test_a_long_id_is_not_echoed_in_full(chart: Chart) -> None:
    response = chart.http.get(f"/Patient/{'x' * 5000}/$assess")
    assert response.status_code == 404
    assert "x" * 65 not in response.text


def _scoped(chart: Chart, scopes: list[str]) -> httpx.Client:
    """The care team's member with a SMART app's token: only `scopes`."""
    auth = chart.api.server.auth
    caller = auth.caller(chart.http.headers["Authorization"])
    token = auth.issue(replace(caller, scopes=frozenset(scopes)))
    return httpx.Client(base_url=chart.api.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_per_type_read_scopes_of_every_gathered_type_may_assess(chart: Chart) -> None:
    """A SMART app holds user/Observation.rs, user/Condition.rs, ... rather than user/*.rs."""
    app = _scoped(chart, [f"user/{resource_type}.rs" for resource_type in GATHERED])
    response = app.get(f"/Patient/{chart.full}/$assess", params={"score": PCE})
    assert response.status_code == 200, response.text
    assert len(_entries(response, "RiskAssessment")) == 1


def test_a_token_missing_a_gathered_type_is_403_not_read_unnarrowed(chart: Chart) -> None:
    """The door narrows only the types a token names: one it has no scope for is refused, not read in full."""
    app = _scoped(chart, [f"user/{t}.rs" for t in GATHERED if t != "AllergyIntolerance"])
    response = app.get(f"/Patient/{chart.full}/$assess", params={"score": PCE})
    assert response.status_code == 403
    assert "AllergyIntolerance" in response.text


def test_write_stores_the_assessment_as_the_caller_and_it_reads_back(chart: Chart) -> None:
    parameters = [{"name": "score", "valueCode": PCE}, {"name": "write", "valueBoolean": True}]
    response = chart.http.post(
        f"/Patient/{chart.full}/$assess", json={"resourceType": "Parameters", "parameter": parameters}
    )
    assert response.status_code == 201, response.text
    (entry,) = response.json()["entry"]
    stored = entry["resource"]
    assert entry["fullUrl"].endswith(f"/RiskAssessment/{stored['id']}")
    assert stored["meta"]["versionId"] == "1"
    read = chart.http.get(f"/RiskAssessment/{stored['id']}")
    assert read.status_code == 200, read.text
    assert read.json()["basis"] == stored["basis"]
    assert read.json()["prediction"] == stored["prediction"]
    found = chart.http.get("/RiskAssessment", params={"subject": f"Patient/{chart.full}"}).json()
    assert stored["id"] in {e["resource"]["id"] for e in found.get("entry", [])}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"resourceType": "Patient"}, "takes a FHIR Parameters resource"),
        ({"resourceType": "Parameters", "parameter": [{"name": "write", "valueString": "yes"}]}, "valueBoolean"),
        ({"resourceType": "Parameters", "parameter": [{"name": "score", "valueInteger": 3}]}, "score takes one"),
        ({"resourceType": "Parameters", "parameter": [{"valueCode": PCE}]}, "each parameter needs a name"),
        ({"resourceType": "Parameters", "parameter": [{"name": "score", "valueCode": "framingham"}]}, "no score"),
    ],
)
def test_malformed_parameters_are_400(chart: Chart, body: dict[str, Any], says: str) -> None:
    response = chart.http.post(f"/Patient/{chart.full}/$assess", json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["issue"][0]["diagnostics"]


def test_a_get_neither_writes_nor_takes_an_unknown_score(chart: Chart) -> None:
    writing = chart.http.get(f"/Patient/{chart.full}/$assess", params={"write": "true"})
    assert writing.status_code == 400
    assert "POSTed" in writing.json()["issue"][0]["diagnostics"]
    unknown = chart.http.get("/Patient/no-such-patient/$assess", params={"score": "framingham"})
    assert unknown.status_code == 400  # the client's mistake is told before anything is read
