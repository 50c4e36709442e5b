"""The EPCIS 2.0 REST interface over HTTP: GS1's examples and the node's own events captured and queried, paging by
`Link`, and every refusal as EPCIS says (problem+json): malformed, off-schema, huge (in bytes or in events), of
another type, unsigned (401 whatever was sent), not staff or beyond the token's scopes (403, audited, before anything
sent is read), a parameter not served, a method or path not served (405, 404), a failure (500); another node's signed
verification request, forged, replayed and expired ones refused; and another node's shipping notice, taken once, and
refused unsigned, forged, misaddressed, replayed elsewhere, of no shipment or huge."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from eth_account import Account
from jsonschema import Draft7Validator

from careledger.api._limits import SHIPPING_NOTICE_BYTES
from careledger.audit import Outcome
from careledger.client import FhirClient
from careledger.errors import ValidationError
from careledger.node import Node
from careledger.records import MAX_RESOURCE_BYTES
from careledger.supplychain import (
    SignedVerificationAnswer,
    VerificationRequest,
    document,
    party_uri,
    shipping,
    sign_event,
)
from tests.api.supply import Counter, counter
from tests.supplychain.conftest import SupplyNetwork, supply_network  # noqa: F401 - the network fixture, shared

EXAMPLES = Path(__file__).resolve().parents[1] / "testdata" / "epcis"
SCHEMA = Draft7Validator(
    json.loads(files("careledger.supplychain").joinpath("schema/EPCIS-JSON-Schema.json").read_text("utf-8"))
)
LD_JSON = {"Content-Type": "application/ld+json"}


@pytest.fixture(scope="module")
def wholesaler(supply_network: SupplyNetwork) -> Iterator[Counter]:  # noqa: F811 - the imported fixture
    with counter(supply_network, supply_network.wholesaler, "wendy") as served:
        yield served


@pytest.fixture(scope="module")
def manufacturer(supply_network: SupplyNetwork) -> Iterator[Counter]:  # noqa: F811
    with counter(supply_network, supply_network.manufacturer, "mona") as served:
        yield served


def _events(answer: httpx.Response) -> list[dict[str, Any]]:
    """The events of a query's answer, which must be a valid EPCISQueryDocument."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
    body = answer.json()
    SCHEMA.validate(body)
    assert body["type"] == "EPCISQueryDocument"
    events: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


def _problem(answer: httpx.Response, status: int, exception: str, *, says: str = "") -> dict[str, Any]:
    """`answer` is an EPCIS problem of `status`, its type `epcisException:<exception>`, its detail saying `says`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["type"] == f"epcisException:{exception}"
    assert problem["status"] == status
    assert problem["title"]
    assert says in problem["detail"]
    return problem


def _observations(bizstep: str, count: int) -> dict[str, Any]:
    """A document of `count` events seeing packs no chain knows (stored as observations)."""
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": "2025-06-01T10:00:00.000Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"https://id.gs1.org/01/00614141123452/21/OBS-{uuid.uuid4().hex[:12]}"],
            "action": "OBSERVE",
            "bizStep": bizstep,
        }
        for _ in range(count)
    ]
    return document(events)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.jsonld")))
def test_gs1_examples_are_captured_and_read_back(wholesaler: Counter, name: str) -> None:
    answer = wholesaler.staff.post("/epcis/capture", content=(EXAMPLES / name).read_bytes(), headers=LD_JSON)
    assert answer.status_code == 202, answer.text
    assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert answer.headers["GS1-Capture-Error-Behaviour"] == "rollback"
    assert answer.headers["GS1-EPCIS-Capture-Limit"] == "500"
    location = answer.headers["Location"]
    assert location.startswith("/epcis/capture/")
    job = wholesaler.staff.get(location).json()
    assert job == answer.json()
    assert (job["success"], job["running"], job["errors"], job["captureErrorBehaviour"]) == (
        True,
        False,
        [],
        "rollback",
    )
    assert job["eventIDs"]
    assert job["createdAt"].endswith("Z")
    assert job["finishedAt"] >= job["createdAt"]
    for event_id in job["eventIDs"]:
        (event,) = _events(wholesaler.staff.get(f"/epcis/events/{quote(event_id, safe='')}"))
        assert event["eventID"] == event_id
        assert event["careledger:signer"] == wholesaler.node.address  # unsigned, so signed as this node
    assert job["captureID"] in {j["captureID"] for j in wholesaler.staff.get("/epcis/capture").json()}


def test_the_nodes_own_events_are_queried_by_their_epcs(
    supply_network: SupplyNetwork,  # noqa: F811
    manufacturer: Counter,
) -> None:
    packs = supply_network.commission(3, lot="API-1")
    urn = f"urn:epc:id:sgtin:0614141.012345.{packs[1].serial}"  # the same pack as an EPC URN
    for epc in (packs[1].epc, urn):
        (event,) = _events(
            manufacturer.staff.get("/epcis/events", params={"MATCH_epc": epc, "EQ_bizStep": "commissioning"})
        )
        assert {p.epc for p in packs} == set(event["epcList"])
        assert event["careledger:signer"] == manufacturer.node.address
        assert event["ilmd"]["cbvmda:lotNumber"] == "API-1"
    none = manufacturer.staff.get("/epcis/events", params={"MATCH_epc": packs[0].epc, "EQ_bizStep": "shipping"})
    assert _events(none) == []


def test_events_are_paged_by_link_headers(wholesaler: Counter) -> None:
    captured = wholesaler.staff.post("/epcis/capture", json=_observations("inspecting", 5))
    assert captured.json()["success"], captured.text
    answer = wholesaler.staff.get("/epcis/events", params={"EQ_bizStep": "inspecting", "perPage": "2"})
    seen, pages = [], 0
    while True:
        pages += 1
        seen += [event["eventID"] for event in _events(answer)]
        link = answer.headers.get("Link")
        if link is None:
            break
        url, rel = link.split(";")
        assert rel.strip() == 'rel="next"'
        assert url.startswith(f"<{wholesaler.url}/epcis/events?")
        answer = wholesaler.staff.get(url.strip("<> "))
    assert (pages, len(seen), len(set(seen))) == (3, 5, 5)
    assert seen == captured.json()["eventIDs"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"EQ_colour": "red"}, "EQ_colour"),
        ({"perPage": "0"}, "perPage"),
        ({"perPage": "1001"}, "perPage"),
        ({"GE_eventTime": "yesterday"}, "GE_eventTime"),
        ({"eventType": "ObjectEvent|Cheese"}, "eventType"),
        ({"nextPageToken": "not-a-token"}, "nextPageToken"),
        ({"MATCH_epc": "urn:epc:idpat:sgtin:0614141.*.*"}, "MATCH_epc"),
    ],
)
def test_a_bad_query_parameter_is_named(wholesaler: Counter, query: dict[str, str], named: str) -> None:
    problem = _problem(wholesaler.staff.get("/epcis/events", params=query), 400, "ValidationException")
    assert problem["detail"].startswith(f"{named}:")


def test_a_capture_refused_on_chain_is_a_failed_job(supply_network: SupplyNetwork, wholesaler: Counter) -> None:  # noqa: F811
    net = supply_network
    packs = net.commission(1)
    w = wholesaler.node
    event = shipping(
        packs, party_uri(w.chain_id, net.manufacturer.address), party_uri(w.chain_id, w.address), str(uuid.uuid4())
    )
    event.update(bizStep="receiving", disposition="in_progress")
    answer = wholesaler.staff.post("/epcis/capture", json=document([event]))
    assert answer.status_code == 202
    job = wholesaler.staff.get(answer.headers["Location"]).json()
    assert not job["success"]
    assert not job["running"]
    assert [e["detail"] for e in job["errors"]] == [f"{event['eventID']}: supply: no such shipment"]
    _problem(wholesaler.staff.get(f"/epcis/events/{quote(event['eventID'], safe='')}"), 404, "NoSuchNameException")


def test_malformed_and_off_schema_documents_are_refused(wholesaler: Counter) -> None:
    _problem(
        wholesaler.staff.post("/epcis/capture", content=b'{"type": ', headers=LD_JSON),
        400,
        "ValidationException",
        says="not JSON",
    )
    _problem(wholesaler.staff.post("/epcis/capture", json=[1, 2]), 400, "ValidationException", says="not a JSON object")
    body = json.loads((EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld").read_text())
    body["epcisBody"]["eventList"][0]["action"] = "ADDX"
    _problem(
        wholesaler.staff.post("/epcis/capture", json=body),
        400,
        "ValidationException",
        says="epcisBody/eventList/0/action",
    )
    _problem(
        wholesaler.staff.post("/epcis/capture", json={"type": "Sandwich"}), 400, "ValidationException", says="type"
    )


def test_a_capture_is_all_or_nothing(wholesaler: Counter) -> None:
    answer = wholesaler.staff.post(
        "/epcis/capture", json=_observations("inspecting", 1), headers={"GS1-Capture-Error-Behaviour": "proceed"}
    )
    _problem(answer, 400, "ValidationException", says="rollback")


def test_a_body_over_4_mib_is_413(wholesaler: Counter) -> None:
    huge = b'{"type": "EPCISDocument", "pad": "' + b"x" * MAX_RESOURCE_BYTES + b'"}'
    try:
        answer = wholesaler.staff.post("/epcis/capture", content=huge, headers=LD_JSON)
    except httpx.TransportError:
        return  # the node may close the connection as soon as it has answered 413
    problem = _problem(answer, 413, "CaptureLimitExceededException")
    assert answer.headers["GS1-EPCIS-Capture-File-Size-Limit"] == str(MAX_RESOURCE_BYTES)
    assert f"{MAX_RESOURCE_BYTES:,}" in problem["detail"]


def test_another_media_type_is_415_once_the_caller_is_known(wholesaler: Counter) -> None:
    answer = wholesaler.staff.post("/epcis/capture", content=b"<epcis/>", headers={"Content-Type": "application/xml"})
    _problem(answer, 415, "UnsupportedMediaTypeException", says="application/ld+json")
    with wholesaler.anonymous() as anonymous:
        answer = anonymous.post("/epcis/capture", content=b"<epcis/>", headers={"Content-Type": "application/xml"})
    _problem(answer, 401, "SecurityException")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/epcis/capture"),
        ("GET", "/epcis/capture"),
        ("GET", "/epcis/capture/some-id"),
        ("GET", "/epcis/events"),
        ("GET", "/epcis/events/urn:uuid:6f0c8c1e-0000-4000-8000-000000000000"),
    ],
)
def test_strangers_are_401_before_their_body_is_read(wholesaler: Counter, method: str, path: str) -> None:
    for token in (None, "Bearer forged.token.here"):
        headers = {**LD_JSON, **({"Authorization": token} if token else {})}
        with wholesaler.anonymous() as anonymous:
            answer = anonymous.request(
                method, path, content=b"{not json" if method == "POST" else None, headers=headers
            )
        _problem(answer, 401, "SecurityException")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_stranger_is_401_even_for_a_body_over_the_limit(wholesaler: Counter) -> None:
    huge = b'{"type": "EPCISDocument", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    with wholesaler.anonymous() as anonymous:
        answer = anonymous.post("/epcis/capture", content=huge, headers={"Content-Type": "text/plain"})
    _problem(answer, 401, "SecurityException", says="sign in")


def test_a_capture_of_more_than_500_events_is_413(wholesaler: Counter) -> None:
    newest = wholesaler.staff.get("/epcis/capture", params={"perPage": "1"}).json()
    answer = wholesaler.staff.post("/epcis/capture", json=_observations("inspecting", 501))
    _problem(answer, 413, "CaptureLimitExceededException", says="501 events")
    assert answer.headers["GS1-EPCIS-Capture-Limit"] == "500"
    assert wholesaler.staff.get("/epcis/capture", params={"perPage": "1"}).json() == newest  # no job: refused whole
    assert wholesaler.staff.post("/epcis/capture", json=_observations("inspecting", 500)).json()["success"]


def test_only_the_nodes_operator_and_staff_act_for_it(wholesaler: Counter) -> None:
    node = wholesaler.node
    assert wholesaler.operator.post("/epcis/capture", json=_observations("inspecting", 1)).status_code == 202
    job_id = wholesaler.staff.get("/epcis/capture").json()[0]["captureID"]
    refused = wholesaler.stranger.post("/epcis/capture", json=_observations("inspecting", 1))
    _problem(refused, 403, "SecurityException")
    entry = SupplyNetwork.audited(node, "supply.capture")
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, wholesaler.stranger_address)
    # A job or event the stranger names is refused as one that does not exist would be: 403 either way.
    for path in (f"/epcis/capture/{job_id}", "/epcis/capture/no-such-job", "/epcis/capture", "/epcis/events"):
        _problem(wholesaler.stranger.get(path), 403, "SecurityException")
    _problem(wholesaler.staff.get("/epcis/capture/no-such-job"), 404, "NoSuchNameException")


def _request(net: SupplyNetwork, manufacturer: Node, *, deadline: int | None = None) -> VerificationRequest:
    """The regulator's request that the manufacturer verify a pack it commissioned (a regulator may ask about any
    pack; a trading partner about those it holds or receives)."""
    (pack,) = net.commission(1, lot="V-1")
    request = VerificationRequest.new(net.regulator.address, manufacturer.address, pack)
    if deadline is None:
        return request
    return VerificationRequest(
        request.asker, request.manufacturer, request.pack_key, request.pack, request.nonce, deadline
    )


def test_a_signed_verification_request_is_answered_signed(supply_network: SupplyNetwork, manufacturer: Counter) -> None:  # noqa: F811
    net, m = supply_network, manufacturer.node
    contract = m.contracts.supply_chain().address
    signed = _request(net, m).sign(net.regulator.unlock().account, m.chain_id, contract).to_json()
    with manufacturer.anonymous() as anonymous:  # the request's signature is its authentication
        answer = anonymous.post("/epcis/verification", json=signed)
        assert answer.status_code == 200, answer.text
        assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
        said = SignedVerificationAnswer.from_json(answer.json())
        assert said.signer(m.chain_id, contract) == m.address
        assert said.request.verified
        assert said.request.reason
        _problem(anonymous.post("/epcis/verification", json=signed), 401, "SecurityException")  # replayed


def test_forged_expired_and_malformed_verification_requests_are_refused(
    supply_network: SupplyNetwork,  # noqa: F811
    manufacturer: Counter,
) -> None:
    net, m = supply_network, manufacturer.node
    contract = m.contracts.supply_chain().address
    forged = _request(net, m).sign(Account.create(), m.chain_id, contract).to_json()  # not the asker's key
    expired = _request(net, m, deadline=int(time.time()) - 60)
    stale = expired.sign(net.regulator.unlock().account, m.chain_id, contract).to_json()
    to_another = VerificationRequest.new(net.pharmacy_a.address, net.wholesaler.address, net.packs(1)[0])
    elsewhere = to_another.sign(net.pharmacy_a.unlock().account, m.chain_id, contract).to_json()
    with manufacturer.anonymous() as anonymous:
        _problem(anonymous.post("/epcis/verification", json=forged), 401, "SecurityException")
        _problem(anonymous.post("/epcis/verification", json=stale), 401, "SecurityException", says="expired")
        _problem(anonymous.post("/epcis/verification", json=elsewhere), 400, "ValidationException", says="manufacturer")
        _problem(
            anonymous.post("/epcis/verification", json={"request": {}, "signature": "0x00"}), 400, "ValidationException"
        )
        _problem(
            anonymous.post("/epcis/verification", content=b"[", headers={"Content-Type": "application/json"}),
            400,
            "ValidationException",
        )
        answer = anonymous.post("/epcis/verification", content=b"x", headers={"Content-Type": "text/plain"})
        _problem(answer, 415, "UnsupportedMediaTypeException")


def test_a_shipping_notice_is_taken_once_and_every_other_refused(
    supply_network: SupplyNetwork,  # noqa: F811
    wholesaler: Counter,
    manufacturer: Counter,
) -> None:
    net, m, w = supply_network, manufacturer.node, wholesaler.node
    packs = net.commission(2, lot="NOTE-1")
    shipment = m.supply.ship(packs, w.address, by=m.address)  # no endpoint on chain here: its notice waits
    notice = m.supply.notice(shipment, by=m.address)
    shipped = next(e for e in notice["epcisBody"]["eventList"] if e["bizStep"] == "shipping")  # (and its history)
    account, contract = m.unlock().account, m.contracts.supply_chain().address
    unsigned = document([{k: v for k, v in shipped.items() if not k.startswith("careledger:")}])
    forged = document([{**shipped, "epcList": shipped["epcList"][:1]}])  # altered after it was signed
    maker, to_w = party_uri(m.chain_id, m.address), party_uri(m.chain_id, w.address)
    never = document([sign_event(shipping(packs, maker, to_w, str(uuid.uuid4())), account, m.chain_id, contract)])
    other = net.commission(1, lot="NOTE-1")
    to_a = m.supply.ship(other, net.pharmacy_a.address, by=m.address)  # its notice re-signed naming the wholesaler
    misaddressed = document([sign_event(shipping(other, maker, to_w, to_a), account, m.chain_id, contract)])
    huge = b'{"type": "EPCISDocument", "pad": "' + b"x" * SHIPPING_NOTICE_BYTES + b'"}'
    with wholesaler.anonymous() as anonymous:  # no token: its signatures and the chain's shipment are what count
        _problem(anonymous.post("/epcis/notices", json=unsigned), 400, "ValidationException", says="not signed")
        _problem(anonymous.post("/epcis/notices", json=forged), 400, "ValidationException", says=shipped["eventID"])
        _problem(anonymous.post("/epcis/notices", json=never), 404, "NoSuchNameException", says="no shipment")
        _problem(anonymous.post("/epcis/notices", json=misaddressed), 404, "NoSuchNameException", says="no shipment")
        with contextlib.suppress(httpx.TransportError):  # the node may close the connection once it answered 413
            _problem(
                anonymous.post("/epcis/notices", content=huge, headers=LD_JSON), 413, "CaptureLimitExceededException"
            )
        entry = SupplyNetwork.audited(w, "supply.notice")
        assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, m.address)
        assert entry.access.detail == "a shipping notice refused (NotFound)"  # nothing of what it named
        taken = anonymous.post("/epcis/notices", json=notice)
        assert (taken.status_code, taken.json()["stored"], taken.json()["sender"]) == (202, True, m.address)
        again = anonymous.post("/epcis/notices", json=notice)  # delivered twice: nothing doubled
        assert (again.status_code, again.json()["stored"]) == (200, False)
    assert w.supply.event(shipped["eventID"], by=w.address)["careledger:signer"] == m.address
    assert [item["epc"] for item in w.supply.receive(shipment, by=w.address)] == [p.epc for p in packs]
    with FhirClient(manufacturer.url) as client, pytest.raises(ValidationError, match="destinationList"):
        client.notice(notice)  # replayed at another node: refused, and the client says why (problem+json)


@pytest.mark.parametrize(
    ("method", "path", "sent"),
    [
        ("POST", "/epcis/capture", b"{junk"),
        ("POST", "/epcis/capture?colour=red", b"{}"),
        ("GET", "/epcis/events?GE_eventTime=0001-01-01T00:00:00%2B01:00", None),
        ("GET", "/epcis/events?MATCH_epc=https://a[b/01/00614141123452/21/S1", None),
        ("GET", "/epcis/events?EQ_colour=red", None),
        ("GET", "/epcis/capture?perPage=-1&foo=1", None),
    ],
)
def test_a_patient_is_403_before_what_she_sent_is_read(
    wholesaler: Counter, method: str, path: str, sent: bytes | None
) -> None:
    answer = wholesaler.stranger.request(method, path, content=sent, headers=LD_JSON)
    _problem(answer, 403, "SecurityException", says="staff")
    entry = wholesaler.node.audit.entries(newest_first=True, limit=1)[0]
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, wholesaler.stranger_address)


def test_a_token_whose_scopes_do_not_cover_capture_is_403_and_audited(wholesaler: Counter) -> None:
    with wholesaler.scoped(wholesaler.staff, "user/SupplyEvent.rs") as reader:
        _events(reader.get("/epcis/events", params={"perPage": "1"}))  # reading is within its scopes
        refused = reader.post("/epcis/capture", json=_observations("inspecting", 1))
        _problem(refused, 403, "SecurityException", says="scopes")
    entry = SupplyNetwork.audited(wholesaler.node, "supply.capture")
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, wholesaler.staff_address)
    assert entry.access.detail == "beyond the token's scopes"
    with wholesaler.scoped(wholesaler.staff, "user/Observation.cruds") as other:
        _problem(other.get("/epcis/capture"), 403, "SecurityException", says="scopes")
        assert SupplyNetwork.audited(wholesaler.node, "supply.read").access.detail == "beyond the token's scopes"


def test_capture_jobs_take_per_page_and_nothing_else(wholesaler: Counter) -> None:
    for _ in range(2):
        assert wholesaler.staff.post("/epcis/capture", json=_observations("inspecting", 1)).status_code == 202
    newest = wholesaler.staff.get("/epcis/capture", params={"perPage": "1"})
    assert newest.status_code == 200, newest.text
    assert len(newest.json()) == 1
    assert newest.json()[0]["captureID"] == wholesaler.staff.get("/epcis/capture").json()[0]["captureID"]
    for query, named in (({"perPage": "-1"}, "perPage"), ({"perPage": "101"}, "perPage"), ({"foo": "1"}, "foo")):
        problem = _problem(wholesaler.staff.get("/epcis/capture", params=query), 400, "ValidationException")
        assert problem["detail"].startswith(f"{named}:")
    _problem(wholesaler.staff.get("/epcis/capture", params={"nextPageToken": "x"}), 400, "ValidationException")
    repeated = wholesaler.staff.get("/epcis/capture", params=[("perPage", "1"), ("perPage", "2")])
    _problem(repeated, 400, "ValidationException", says="perPage: given more than once")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/epcis/events", "GET, HEAD, OPTIONS"),
        ("PUT", "/epcis/capture", "GET, HEAD, OPTIONS, POST"),
        ("GET", "/epcis/notices", "OPTIONS, POST"),
        ("POST", "/epcis/events/urn:uuid:6f0c8c1e-0000-4000-8000-000000000000", "GET, HEAD, OPTIONS"),
    ],
)
def test_a_method_no_route_takes_is_a_405_problem(wholesaler: Counter, method: str, path: str, allow: str) -> None:
    strangers = [] if method in ("POST", "PUT") else [wholesaler.anonymous()]  # a stranger's body: 401 before all
    for client in (wholesaler.staff, *strangers):
        answer = client.request(method, path)
        assert answer.status_code == 405, answer.text
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.headers["Allow"] == allow
        assert answer.json()["status"] == 405
    assert wholesaler.staff.options(path).headers["Allow"] == allow  # OPTIONS and a 405 never disagree


def test_a_path_no_route_takes_is_a_404_problem(wholesaler: Counter) -> None:
    for path in ("/epcis/queries/SimpleEventQuery", "/epcis/nothing"):
        _problem(wholesaler.staff.get(path), 404, "NoSuchNameException", says="no EPCIS resource")


def test_a_failure_is_a_500_problem_logged_once(
    wholesaler: Counter, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("the secret cause")

    monkeypatch.setattr(wholesaler.node.supply, "capture_jobs", broken)
    with caplog.at_level(logging.ERROR, logger="careledger.api"):
        answer = wholesaler.staff.get("/epcis/capture")
        problem = _problem(answer, 500, "ImplementationException", says="X-Request-ID")
        assert "secret" not in answer.text
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:  # the request log writes once it has answered
            time.sleep(0.05)
    failed = [r for r in caplog.records if r.exc_info and "the secret cause" in str(r.exc_info[1])]
    assert len(failed) == 1, caplog.records
    assert "/epcis/capture" in failed[0].getMessage()
    assert problem["status"] == 500
