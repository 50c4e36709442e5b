"""`/metrics`: the named series, by route template (never an id or a search value), and who may scrape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from careledger.api import NodeServer, free_port
from tests.access.conftest import World, built_world
from tests.api.conftest import Api, serving

SERIES = {
    "careledger_http_requests",
    "careledger_http_request_duration_seconds",
    "careledger_anchor_queue",
    "careledger_anchor_lag_seconds",
    "careledger_consent_sync_lag_blocks",
    "careledger_device_readings",
    "careledger_worker_leader",
    "careledger_backlog_up",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(tmp_path_factory.mktemp("metrics") / "home") as world, serving(world) as api:
        yield api


def samples(text: str) -> dict[str, list[Sample]]:
    """The exposition parsed by prometheus-client's own parser: samples by family name."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_metrics_parse_and_carry_every_named_series(api: Api) -> None:
    refused_body = httpx.post(
        f"{api.url}/devices/readings", content=b"not a frame", headers={"Content-Type": "application/octet-stream"}
    )
    assert refused_body.status_code == 400  # a refused reading, counted
    response = httpx.get(f"{api.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found.keys() >= SERIES
    refused = [s for s in found["careledger_device_readings"] if s.labels["outcome"] == "refused"]
    assert refused
    assert refused[0].labels["reason"] == "malformed-payload"
    assert refused[0].value >= 1
    assert {s.labels["kind"] for s in found["careledger_anchor_queue"]} == {"records", "audit"}
    assert found["careledger_worker_leader"][0].value == 1  # one process: it leads
    assert found["careledger_backlog_up"][0].value == 1


def test_anchor_queue_counts_what_waits(api: Api) -> None:
    waiting = api.world.node.anchorer.pending()
    assert waiting > 0  # the world's records are not anchored yet
    found = samples(httpx.get(f"{api.url}/metrics").text)
    queue = {s.labels["kind"]: s.value for s in found["careledger_anchor_queue"]}
    lag = {s.labels["kind"]: s.value for s in found["careledger_anchor_lag_seconds"]}
    assert queue["records"] == waiting
    assert lag["records"] > 0


def test_requests_are_counted_by_route_template_never_by_id_or_search_value(api: Api) -> None:
    world = api.world
    with api.client(world.drbob) as client:
        assert client.get(f"/Observation/{world.general_id}").status_code in (200, 404)
        assert client.get("/Patient", params={"family": "Zebedee-Unlikely"}).status_code == 200
    text = httpx.get(f"{api.url}/metrics").text
    assert world.general_id not in text
    assert "Zebedee" not in text
    routes = {s.labels["route"] for s in samples(text)["careledger_http_requests"]}
    assert {"/{resource_type}/{record_id}", "/{resource_type}"} <= routes
    statuses = {s.labels["status"] for s in samples(text)["careledger_http_requests"]}
    assert statuses <= {"2xx", "3xx", "4xx", "5xx"}


def test_a_caller_through_a_proxy_is_refused_without_a_token(api: Api) -> None:
    response = httpx.get(f"{api.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403
    assert "careledger_" not in response.text


@pytest.fixture(scope="module")
def token_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with built_world(tmp_path_factory.mktemp("metrics-token") / "home") as world:
        yield world


def test_metrics_token_is_required_when_set(token_world: World) -> None:
    node = token_world.node
    node.settings = node.settings.model_copy(update={"metrics_token": "s3cret-scrape-token"})
    server = NodeServer(node, port=0)
    server.start()
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        assert "careledger_" not in wrong.text
        right = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert right.status_code == 200
        assert samples(right.text).keys() >= SERIES
        for scheme in ("bearer", "BEARER"):  # RFC 7235: a scheme in any case, as the API's own tokens
            assert (
                httpx.get(
                    f"{server.url}/metrics", headers={"Authorization": f"{scheme} s3cret-scrape-token"}
                ).status_code
                == 200
            )
        assert httpx.get(f"{server.url}/metrics", headers={"Authorization": "s3cret-scrape-token"}).status_code == 401
        # With a token, a scraper through a proxy is let in: the token is the protection.
        proxied = httpx.get(
            f"{server.url}/metrics",
            headers={"Authorization": "Bearer s3cret-scrape-token", "X-Forwarded-For": "203.0.113.9"},
        )
        assert proxied.status_code == 200
    finally:
        server.stop()


def test_metrics_port_serves_metrics_there_only(token_world: World) -> None:
    node = token_world.node
    metrics_port = free_port()
    node.settings = node.settings.model_copy(update={"metrics_token": "", "metrics_port": metrics_port})
    server = NodeServer(node, port=0)
    server.start()
    try:
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        scraped = httpx.get(f"{metrics_url}/metrics")
        assert scraped.status_code == 200
        assert samples(scraped.text).keys() >= SERIES
        assert httpx.get(f"{metrics_url}/readyz").status_code == 200
        assert httpx.get(f"{metrics_url}/metadata").status_code == 404  # nothing of the API there
        assert httpx.get(f"{server.url}/metadata").status_code == 200
    finally:
        server.stop()
        node.settings = node.settings.model_copy(update={"metrics_port": None})
    with pytest.raises(httpx.ConnectError):  # the server's listener on the metrics port stopped with it
        httpx.get(f"{metrics_url}/metrics")
