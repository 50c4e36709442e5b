"""CORS: a browser app registered with this node may call the API and the token endpoint from its own origin;
any other origin's page may not read a thing. Real server, requests as a browser sends them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from careledger.api import NodeServer
from careledger.config import Settings
from careledger.testdata import scratch_node
from tests.access.conftest import built_world
from tests.api.conftest import Api, serving
from tests.logs import logged

APP = "https://diary.example"  # the registered app's origin
ELSEWHERE = "https://evil.example"


@pytest.fixture(scope="module")
def cors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("cors")) / "home") as world, serving(world) as api:
        world.node.clients.register_app("Diary", [f"{APP}/callback", "http://127.0.0.1:9/cb"], [])
        yield api


def _preflight(url: str, origin: str, path: str, method: str, headers: str) -> httpx.Response:
    return httpx.options(
        f"{url}{path}",
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )


def test_a_registered_apps_preflight_is_answered_and_anothers_refused(cors: Api) -> None:
    answer = _preflight(cors.url, APP, "/Observation", "POST", "authorization,content-type,if-none-exist")
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == APP
    assert "POST" in answer.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "accept", "if-match", "if-none-exist", "prefer"} <= allowed
    assert "access-control-allow-credentials" not in answer.headers  # tokens, never cookies
    token = _preflight(cors.url, "HTTPS://DIARY.EXAMPLE:443", "/auth/token", "POST", "content-type")
    assert token.status_code == 204  # the origin as a URL, not as a string

    refused = _preflight(cors.url, ELSEWHERE, "/Observation", "POST", "authorization")
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    for lookalike in ("https://diary.example.evil.example", "http://diary.example", "null"):
        assert _preflight(cors.url, lookalike, "/Patient", "GET", "authorization").status_code == 403


def test_a_cross_origin_refusal_is_readable_by_the_registered_app_only(cors: Api) -> None:
    unsigned = httpx.get(f"{cors.url}/Observation/{cors.world.labs_id}", headers={"Origin": APP})
    assert unsigned.status_code == 401
    assert unsigned.headers["access-control-allow-origin"] == APP
    assert "Origin" in unsigned.headers["vary"]
    other = httpx.get(f"{cors.url}/Observation/{cors.world.labs_id}", headers={"Origin": ELSEWHERE})
    assert other.status_code == 401
    assert "access-control-allow-origin" not in other.headers
    assert "Origin" in other.headers["vary"]  # a cache must not hand this answer to the app's page, nor its to this
    refused = _preflight(cors.url, ELSEWHERE, "/Observation", "POST", "authorization")
    assert "Origin" in refused.headers["vary"]
    token = httpx.post(f"{cors.url}/auth/token", data={"grant_type": "refresh_token"}, headers={"Origin": APP})
    assert token.status_code in (400, 401)
    assert token.headers["access-control-allow-origin"] == APP


def test_a_cross_origin_read_exposes_what_a_fhir_client_needs(cors: Api) -> None:
    with cors.client(cors.world.alice) as client:
        read = client.get(f"/Observation/{cors.world.labs_id}", headers={"Origin": "http://127.0.0.1:9"})
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == "http://127.0.0.1:9"
    exposed = {h.strip() for h in read.headers["access-control-expose-headers"].split(",")}
    assert {"Location", "ETag", "Content-Location", "Last-Modified"} <= exposed


def test_an_app_registered_or_removed_is_known_at_once(cors: Api) -> None:
    origin = "https://later.example"
    assert _preflight(cors.url, origin, "/Patient", "GET", "authorization").status_code == 403
    client = cors.world.node.clients.register_app("Later", [f"{origin}/cb"], [])
    assert _preflight(cors.url, origin, "/Patient", "GET", "authorization").status_code == 204
    cors.world.node.clients.remove(client.client_id)
    assert _preflight(cors.url, origin, "/Patient", "GET", "authorization").status_code == 403


def test_an_options_that_is_no_preflight_is_fhirs(cors: Api) -> None:
    answer = httpx.options(f"{cors.url}/Patient", headers={"Origin": ELSEWHERE})
    assert answer.status_code != 403  # not a refused preflight: FHIR's capabilities interaction, the app's to answer
    assert "access-control-allow-methods" not in answer.headers


def test_a_failure_inside_a_route_is_a_500_the_app_can_read_and_the_log_keeps(
    cors: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(name: str) -> None:
        if name == "record-rows-written":
            raise RuntimeError("power cut")

    monkeypatch.setattr("careledger.records._service.crash_point", fail)
    world = cors.world
    (patient,) = world.node._records.list(patient_address=world.alice.address, resource_type="Patient")
    pulse = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "pulse"},
        "subject": {"reference": f"Patient/{patient.record_id}"},
    }
    with cors.client(world.alice) as client, caplog.at_level(logging.ERROR, logger="careledger"):
        failed = client.post("/Observation", json=pulse, headers={"Origin": APP})
        plain = client.post("/Observation", json=pulse)
        failures = logged(caplog, lambda r: r.exc_info is not None and isinstance(r.exc_info[1], RuntimeError), 2)
    assert failed.status_code == 500
    assert failed.headers["access-control-allow-origin"] == APP
    assert "Origin" in failed.headers["vary"]
    assert failed.json()["resourceType"] == "OperationOutcome"
    assert "power cut" not in failed.text  # the reason is the log's, not a stranger's
    assert plain.status_code == 500  # without Origin: Starlette's own 500, as before
    assert len(failures) == 2  # each failure once, with its cause and its route's template (never a path's ids)
    assert all(r.getMessage() == "POST /{resource_type} failed" for r in failures)


def test_preflights_count_against_the_limits_of_what_they_precede(tmp_path: Path) -> None:
    settings = Settings(chain="memory", light_kdf=True, open_requests_per_minute=1)
    with scratch_node(tmp_path / "home", settings) as node:
        node.clients.register_app("Diary", [f"{APP}/callback"], [])
        server = NodeServer(node, port=0)
        server.start()
        try:
            first = _preflight(server.url, APP, "/auth/token", "POST", "content-type")
            flood = _preflight(server.url, APP, "/auth/token", "POST", "content-type")
        finally:
            server.stop()
    assert first.status_code == 204
    assert flood.status_code == 429
    assert flood.headers["access-control-allow-origin"] == APP  # the app's page may read why, and when to retry
    assert flood.headers["retry-after"]
