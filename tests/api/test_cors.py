"""CORS: a browser app registered with this node may call the API and the token endpoint from its own origin;
any other origin's page may not read a thing. Real server, requests as a browser sends them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.access.conftest import built_world
from tests.api.conftest import Api, serving

APP = "https://diary.example"  # the registered app's origin
ELSEWHERE = "https://evil.example"


@pytest.fixture(scope="module")
def cors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("cors")) / "home") as world, serving(world) as api:
        world.node.clients.register_app("Diary", [f"{APP}/callback", "http://127.0.0.1:9/cb"], [])
        yield api


def _preflight(api: Api, origin: str, path: str, method: str, headers: str) -> httpx.Response:
    return httpx.options(
        f"{api.url}{path}",
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )


def test_a_registered_apps_preflight_is_answered_and_anothers_refused(cors: Api) -> None:
    answer = _preflight(cors, APP, "/Observation", "POST", "authorization,content-type,if-none-exist")
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == APP
    assert "POST" in answer.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "accept", "if-match", "if-none-exist", "prefer"} <= allowed
    assert "access-control-allow-credentials" not in answer.headers  # tokens, never cookies
    token = _preflight(cors, "HTTPS://DIARY.EXAMPLE:443", "/auth/token", "POST", "content-type")
    assert token.status_code == 204  # the origin as a URL, not as a string

    refused = _preflight(cors, ELSEWHERE, "/Observation", "POST", "authorization")
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    for lookalike in ("https://diary.example.evil.example", "http://diary.example", "null"):
        assert _preflight(cors, lookalike, "/Patient", "GET", "authorization").status_code == 403


def test_a_cross_origin_refusal_is_readable_by_the_registered_app_only(cors: Api) -> None:
    unsigned = httpx.get(f"{cors.url}/Observation/{cors.world.labs_id}", headers={"Origin": APP})
    assert unsigned.status_code == 401
    assert unsigned.headers["access-control-allow-origin"] == APP
    assert "Origin" in unsigned.headers["vary"]
    other = httpx.get(f"{cors.url}/Observation/{cors.world.labs_id}", headers={"Origin": ELSEWHERE})
    assert other.status_code == 401
    assert "access-control-allow-origin" not in other.headers
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
    assert _preflight(cors, origin, "/Patient", "GET", "authorization").status_code == 403
    client = cors.world.node.clients.register_app("Later", [f"{origin}/cb"], [])
    assert _preflight(cors, origin, "/Patient", "GET", "authorization").status_code == 204
    cors.world.node.clients.remove(client.client_id)
    assert _preflight(cors, origin, "/Patient", "GET", "authorization").status_code == 403


def test_an_options_that_is_no_preflight_is_fhirs(cors: Api) -> None:
    answer = httpx.options(f"{cors.url}/Patient", headers={"Origin": ELSEWHERE})
    assert answer.status_code != 403  # not a refused preflight: FHIR's capabilities interaction, the app's to answer
    assert "access-control-allow-methods" not in answer.headers
