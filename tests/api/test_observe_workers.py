"""`careledger serve --workers 2` as an operator runs it, with a metrics port: a scrape there, whichever worker takes
it, counts every worker's requests; one worker leads and `/readyz` sees it; the log is JSON lines with one access
line per request."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from careledger.api import NodeProcess, free_port
from careledger.cli import run
from careledger.config import Home
from tests.conftest import PG_URL, _postgres_schema

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]

PASSPHRASE = "test passphrase"


METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    schemas = _postgres_schema()
    schema = next(schemas)
    home = tmp_path_factory.mktemp("observe") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
        assert (
            run(["--home", str(home), "--db", f"{PG_URL}?options=-csearch_path%3D{schema}", "init", "--light-kdf"]) == 0
        )
        with (home / "config.toml").open("a") as config:
            config.write(f'log_format = "json"\nmetrics_port = {METRICS_PORT}\n')
        assert run(["--home", str(home), "chain", "deploy"]) == 0
        server = NodeProcess(Home(home), free_port(), passphrase=PASSPHRASE, workers=2)
        try:
            server.start(timeout=180)
            yield server
        finally:
            code = server.stop()
            next(schemas, None)
    assert code == 0, server.log_tail()


def requests_counted(text: str, route: str) -> float:
    """How many requests to `route` the scrape counts, over every status and worker."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "careledger_http_requests"
        for sample in family.samples
        if sample.labels["route"] == route
    )


def scrape() -> tuple[float, float]:
    """One scrape at the metrics port: the requests to `/metadata` it counts, and whether its worker leads."""
    text = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics").text
    leads = next(f for f in text_string_to_metric_families(text) if f.name == "careledger_worker_leader")
    return requests_counted(text, "/metadata"), leads.samples[0].value


def test_a_scrape_at_either_worker_counts_every_workers_requests(server: NodeProcess) -> None:
    workers = set()
    for _ in range(40):  # a fresh connection each: both workers answer some
        response = httpx.get(f"{server.url}/metadata")
        assert response.status_code == 200
        workers.add(response.headers["x-worker"])
    assert len(workers) == 2
    scrapes = [scrape() for _ in range(30)]  # each worker listens on the metrics port: the kernel spreads them
    assert {leads for _, leads in scrapes} == {0, 1}  # both workers answered scrapes; one of them leads
    assert min(counted for counted, _ in scrapes) >= 40  # and each counted both workers' requests
    assert httpx.get(f"{server.url}/metrics").status_code == 404  # not on the API's port


def test_readyz_sees_the_leader(server: NodeProcess) -> None:
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["leader"] == {"ok": True, "detail": "ok"}


def test_the_log_is_json_lines_with_an_access_line_per_request(server: NodeProcess) -> None:
    response = httpx.get(
        f"{server.url}/Patient", params={"family": "Quixotic-Surname"}, headers={"X-Request-ID": "probe-42-abcdef"}
    )
    assert response.status_code == 401
    time.sleep(0.5)
    lines = [line for line in Path(server.log).read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    mine = [e for e in entries if e.get("request_id") == "probe-42-abcdef"]
    assert [e["logger"] for e in mine] == ["careledger.access"]
    assert mine[0]["http"] == {
        "method": "GET",
        "route": "/{resource_type}",
        "status": 401,
        "duration_ms": mine[0]["http"]["duration_ms"],
        "role": None,
    }
    assert "Quixotic" not in Path(server.log).read_text()


def test_the_openapi_document_costs_no_warning_line(server: NodeProcess) -> None:
    """A stranger's GET of /openapi.json wrote FastAPI's "Duplicate Operation ID" warnings, plain text, into the
    JSON log: each operation taken by GET and POST ($quote, $find, $assess) is now a route per method."""
    document = httpx.get(f"{server.url}/openapi.json")
    assert document.status_code == 200
    ids = [op["operationId"] for path in document.json()["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    time.sleep(0.5)
    log = Path(server.log).read_text()
    assert "Duplicate Operation ID" not in log
    assert not [line for line in log.splitlines() if "Warning" in line and not line.startswith("{")]


def test_a_request_uvicorn_cannot_parse_is_told_in_json_too(server: NodeProcess) -> None:
    """uvicorn's own warning goes through the node's handler: a log collector reading JSON lines gets no plain
    `WARNING:  Invalid HTTP request received.` line between them."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"NOT HTTP AT ALL\x00\x01\r\n\r\n")
        assert raw.recv(1024).startswith(b"HTTP/1.1 400")
    deadline = time.monotonic() + 5
    while '"logger": "uvicorn.error"' not in (log := Path(server.log).read_text()):
        assert time.monotonic() < deadline, log[-2000:]
        time.sleep(0.1)
    told = [json.loads(line) for line in log.splitlines() if '"logger": "uvicorn.error"' in line]
    assert told[0]["message"] == "Invalid HTTP request received."
    assert told[0]["level"] == "warning"
    assert not [line for line in log.splitlines() if line.startswith(("WARNING:", "ERROR:", "INFO:"))]
