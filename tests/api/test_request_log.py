"""The access log: one line per request without PHI, a request id echoed and carried into the audit entry."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from careledger import request_context
from careledger.audit import Access, Action, Outcome, request_of
from careledger.log_format import JsonFormatter, TextFormatter
from tests.access.conftest import built_world
from tests.api.conftest import Api, served_on_postgres, serving
from tests.logs import logged

ACCESS = "careledger.access"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(tmp_path_factory.mktemp("request-log") / "home") as world, serving(world) as api:
        yield api


def access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The access lines captured, once there are `count` of them (or a few seconds passed)."""
    return logged(caplog, lambda record: record.name == ACCESS, count)


def test_access_line_names_the_route_template_not_the_search_value(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    with api.client(api.world.drbob) as client:
        caplog.clear()
        response = client.get("/Patient", params={"name": "Alice Wonderland-Smith", "birthdate": "1970-01-01"})
    assert response.status_code == 200
    [line] = access_lines(caplog, 1)
    rendered = JsonFormatter().format(line) + TextFormatter().format(line)
    assert "Wonderland" not in rendered
    assert "1970" not in rendered
    assert "birthdate" not in rendered
    entry = json.loads(JsonFormatter().format(line))
    assert entry["http"]["route"] == "/{resource_type}"
    assert entry["http"]["method"] == "GET"
    assert entry["http"]["status"] == 200
    assert entry["http"]["role"] == "practitioner"
    assert entry["http"]["duration_ms"] > 0


def test_access_line_never_names_a_record_or_patient_id(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    world = api.world
    patient_id = world.node._records.get(world.labs_id).patient_id
    with api.client(world.alice) as client:
        caplog.clear()
        assert client.get(f"/Observation/{world.labs_id}").status_code == 200  # the fast path
        assert client.head(f"/Observation/{world.labs_id}").status_code == 200
        assert client.get(f"/Observation/{world.labs_id}/_history").status_code == 200
        assert client.get(f"/Patient/{patient_id}/$everything").status_code == 200
    lines = access_lines(caplog, 4)
    assert len(lines) == 4
    for line in lines:
        rendered = JsonFormatter().format(line) + TextFormatter().format(line)
        for secret in (world.labs_id, str(patient_id), world.alice.address.lower()):
            assert secret not in rendered.lower()
    assert [line.http["route"] for line in lines] == [  # type: ignore[attr-defined]
        "/{resource_type}/{record_id}",
        "/{resource_type}/{record_id}",
        "/{resource_type}/{record_id}/_history",
        "/Patient/{record_id}/$everything",
    ]
    assert [line.http["role"] for line in lines] == ["patient"] * 4  # type: ignore[attr-defined]


def test_a_probe_s_path_is_its_own_label_whatever_the_method(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """POST /healthz is routed to FHIR's create (`POST /{resource_type}`), which refuses it: labelled by its own
    path, it is not counted as a create of a resource type in the access log and the metrics."""
    caplog.set_level(logging.INFO, logger=ACCESS)
    caplog.clear()
    for method, path in (("POST", "/healthz"), ("DELETE", "/readyz"), ("POST", "/metrics"), ("GET", "/healthz")):
        assert httpx.request(method, f"{api.url}{path}").status_code < 500
    assert [line.http["route"] for line in access_lines(caplog, 4)] == [  # type: ignore[attr-defined]
        "/healthz",
        "/readyz",
        "/metrics",
        "/healthz",
    ]
    assert 'method="POST",route="/healthz"' in httpx.get(f"{api.url}/metrics").text


def test_a_sane_request_id_is_kept_and_echoed_and_reaches_the_audit_entry(api: Api) -> None:
    world = api.world
    with api.client(world.alice) as client:
        response = client.get(f"/Observation/{world.labs_id}", headers={"X-Request-ID": "lb-7f3a9c01-edge"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "lb-7f3a9c01-edge"
    newest = world.node.audit.entries()[-1]
    assert newest.access.interaction == "read"
    assert request_of(newest.event) == "lb-7f3a9c01-edge"
    identifier = next(e for e in newest.event["entity"] if request_of({"entity": [e]}))
    assert identifier["type"]["code"] == "XrequestId"


def test_a_refusal_audited_after_the_answer_carries_its_request_id(api: Api) -> None:
    world = api.world
    with api.client(world.mallory) as client:  # no consent: refused, and the refusal audited
        response = client.get(f"/Observation/{world.labs_id}", headers={"X-Request-ID": "refused-0042-abcd"})
    assert response.status_code == 404
    newest = world.node.audit.entries()[-1]
    assert not newest.access.allowed
    assert request_of(newest.event) == "refused-0042-abcd"


@pytest.mark.parametrize(
    "given",
    [b"short", b"has spaces in it ok", b"x" * 200, b"name=Alice%20Smith", "abc\u00e9defghij".encode()],
)
def test_an_insane_request_id_is_replaced(api: Api, given: bytes) -> None:
    response = httpx.get(f"{api.url}/healthz", headers={b"X-Request-ID": given})
    echoed = response.headers["X-Request-ID"]
    assert echoed.encode() != given
    assert len(echoed) == 32
    assert int(echoed, 16) >= 0


def test_each_request_gets_its_own_id_and_refusals_are_logged_too(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    first = httpx.get(f"{api.url}/Patient")  # no sign-in: refused
    second = httpx.get(f"{api.url}/Patient")
    assert first.status_code == second.status_code == 401
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    routes = [(line.http["route"], line.http["status"]) for line in access_lines(caplog, 2)]  # type: ignore[attr-defined]
    assert routes[-2:] == [("/{resource_type}", 401)] * 2


def test_audit_entries_of_the_nodes_own_work_carry_no_request_id(api: Api) -> None:
    assert request_context.current() is None
    world = api.world
    own_work = Access(Action.READ, "read", Outcome.SUCCESS, world.node.address, entities=("Patient/p/_history/1",))
    entry = world.node.audit.record(own_work)  # no earlier entry needed: a test of its own, in any order
    newest = world.node.audit.entries()[-1]
    assert newest.seq == entry
    assert request_of(newest.event) is None


def test_json_log_lines_carry_the_request_id_and_one_error_field(caplog: pytest.LogCaptureFixture) -> None:
    with request_context.serving(request_context.Served("req-0123456789")):
        try:
            raise RuntimeError("the database went away")
        except RuntimeError:
            record = logging.LogRecord("careledger.api", logging.ERROR, __file__, 1, "GET %s failed", ("/x",), None)
            record.exc_info = sys.exc_info()
            line = JsonFormatter().format(record)
            text = TextFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-0123456789"
    assert entry["level"] == "error"
    assert entry["error"]["type"] == "RuntimeError"
    assert "Traceback" in entry["error"]["trace"]
    assert text.splitlines()[0].endswith("[request req-0123456789]")


@pytest.mark.postgres
def test_a_database_error_is_logged_by_its_sqlstate_never_by_the_values_it_quotes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="careledger.api")
    with served_on_postgres(tmp_path / "home") as server:
        with server.node.db.writing() as connection:  # every new ticket refused: PostgreSQL's DETAIL quotes the row
            connection.execute(text("ALTER TABLE tickets ADD CONSTRAINT refused CHECK (false) NOT VALID"))
        caplog.clear()
        response = httpx.get(f"{server.url}/auth/nonce")
    assert response.status_code == 500
    [failed] = [record for record in caplog.records if record.name == "careledger.api"]
    assert failed.exc_info is not None
    for rendered in (TextFormatter().format(failed), JsonFormatter().format(failed)):
        assert "SQLSTATE 23514" in rendered  # what failed, for the operator
        assert "IntegrityError" in rendered
        assert "Failing row" not in rendered
        assert "[SQL" not in rendered  # nor the statement (nor, where it is not hidden, its parameters)
        assert not re.search(r"[0-9a-f]{64}", rendered), rendered  # the nonce's key, a value of the statement
