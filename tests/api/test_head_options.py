"""HEAD answers as GET does, without the body, through the same door and audit; OPTIONS says what a path takes.

One node behind a real HTTP server for the module: Alice's chart (the access world), read by
Alice herself and asked after by Mallory, a practitioner Alice never consented to.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.access.conftest import World, built_world
from tests.api.conftest import Api, serving

# What a HEAD must answer as the GET does; `Date` and the like may differ.
SAME = ("etag", "last-modified", "content-type", "content-length", "location")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with built_world(Path(tmp_path_factory.mktemp("head")) / "home") as world, serving(world) as api:
        yield api


@pytest.fixture(scope="module")
def alice(api: Api) -> Iterator[httpx.Client]:
    with api.client(api.world.alice) as client:
        yield client


def _assert_head_is_get(client: httpx.Client, path: str, **params: str) -> httpx.Response:
    got = client.get(path, params=params)
    head = client.head(path, params=params)
    assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
    for name in SAME:
        assert head.headers.get(name) == got.headers.get(name), (path, name)
    assert head.content == b""
    return got


def test_head_of_read_vread_search_history_and_metadata_is_the_gets_headers_without_the_body(
    api: Api, alice: httpx.Client
) -> None:
    labs = api.world.labs_id
    read = _assert_head_is_get(alice, f"/Observation/{labs}")  # the fast path's read
    assert read.status_code == 200
    assert read.headers["etag"].startswith('W/"')
    assert "last-modified" in read.headers
    _assert_head_is_get(alice, f"/Observation/{labs}/_history/1")
    _assert_head_is_get(alice, f"/Observation/{labs}/_history")
    _assert_head_is_get(alice, "/Observation", _id=labs)
    _assert_head_is_get(alice, f"/Observation/{labs}", _format="xml")  # the XML answer's length and type
    _assert_head_is_get(alice, "/metadata")
    not_modified = alice.head(f"/Observation/{labs}", headers={"If-None-Match": read.headers["etag"]})
    assert not_modified.status_code == 304


def test_head_sends_no_body_on_the_wire(api: Api, alice: httpx.Client) -> None:
    """httpx never reads a HEAD's body, so ask over a bare socket: after the headers, the server sends nothing."""
    address = urlsplit(api.url)
    token = alice.headers["Authorization"]
    request = (
        f"HEAD /Observation/{api.world.labs_id} HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Authorization: {token}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split()[1]) > 0
    assert rest == b""


def test_head_of_a_withheld_id_answers_as_an_unknown_id_and_is_audited_as_a_get_is(api: Api) -> None:
    world: World = api.world
    audit = world.node.audit
    with api.client(world.mallory) as mallory:
        withheld = mallory.head(f"/Observation/{world.labs_id}")
        head_entry = audit.entries(agent=world.mallory.address)[-1].access
        unknown = mallory.head(f"/Observation/{uuid.uuid4()}")  # as long as the withheld id: the same message
        assert withheld.status_code == unknown.status_code == 404
        assert {n: withheld.headers.get(n) for n in SAME} == {n: unknown.headers.get(n) for n in SAME}
        assert mallory.get(f"/Observation/{world.labs_id}").status_code == 404
        get_entry = audit.entries(agent=world.mallory.address)[-1].access
    assert head_entry.allowed is False
    assert head_entry.patient == world.alice.address
    assert (head_entry.interaction, head_entry.entities, head_entry.detail) == (
        get_entry.interaction,
        get_entry.entities,
        get_entry.detail,
    )
    assert head_entry.interaction == "read"
    assert "no consent" in (head_entry.detail or "")


def test_head_without_a_token_is_refused_as_get_is(api: Api) -> None:
    got = httpx.get(f"{api.url}/Observation/{api.world.labs_id}")
    head = httpx.head(f"{api.url}/Observation/{api.world.labs_id}")
    assert head.status_code == got.status_code == 401
    assert head.headers["www-authenticate"] == got.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/Patient", "DELETE, GET, HEAD, OPTIONS, POST, PUT"),
        ("/Patient/p1", "DELETE, GET, HEAD, OPTIONS, PUT"),
        ("/Patient/p1/_history", "GET, HEAD, OPTIONS"),
        ("/Patient/p1/_history/2", "GET, HEAD, OPTIONS"),
        ("/Patient/p1/$everything", "GET, HEAD, OPTIONS"),
        ("/Consent", "GET, HEAD, OPTIONS"),  # read-only: granted on chain
        ("/metadata", "GET, HEAD, OPTIONS"),  # not a type: the generic routes do not serve it
    ],
)
def test_options_lists_the_methods_a_path_takes(api: Api, path: str, allowed: str) -> None:
    response = httpx.options(f"{api.url}{path}")
    assert response.status_code == 200
    assert response.headers["allow"] == allowed
    assert response.content == b""


def test_options_of_the_base_answers_with_allow(api: Api) -> None:
    response = httpx.options(f"{api.url}/")
    assert response.status_code == 200
    assert {"POST", "OPTIONS"} <= {m.strip() for m in response.headers["allow"].split(",")}  # a Bundle at the base
    assert httpx.request("PATCH", f"{api.url}/Patient/p1").status_code == 405  # what no route takes is still 405


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/Coverage"),  # read-only views of the chain: the route's own 405
        ("DELETE", "/Coverage/c1"),
        ("PUT", "/Consent/c1"),
        ("PATCH", "/Patient/p1"),  # no route takes PATCH: FastAPI's 405
        ("POST", "/metadata"),  # the generic routes match these paths too, but serve no such type
        ("DELETE", "/metadata"),
        ("PUT", "/metadata"),
        ("PATCH", "/metadata"),
        ("POST", "/$versions"),
        ("DELETE", "/$versions"),
        ("PUT", "/.well-known/smart-configuration"),
        ("DELETE", "/.well-known/smart-configuration"),
    ],
)
def test_every_405_says_allow_as_options_does(api: Api, alice: httpx.Client, method: str, path: str) -> None:
    allowed = httpx.options(f"{api.url}{path}").headers["allow"]
    assert method not in allowed.split(", ")
    with httpx.Client(base_url=api.url) as stranger:
        answers = [  # signed in or not: a method is the path's, not the caller's
            client.request(method, path, json={"resourceType": "Parameters"}) for client in (alice, stranger)
        ]
    for response in answers:
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == allowed
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["code"] == "not-supported"
