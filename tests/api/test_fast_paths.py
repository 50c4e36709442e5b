"""Which requests the hot paths answer themselves, and that they answer them as the routes would.

The first tests walk FastAPI's real route table, that of the app `create_app` builds (portal included), and ask
the installed middleware about a request built from each route's own template: no route but the read by id and
the create may lose a request to the fast path, and those two must. The table is read, not listed here, so a
route added tomorrow is walked too; the throwaway routes below are the kind a hand-written pattern would shadow.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from careledger.api import SiweAuth, create_app, new_secret
from careledger.api._fast_paths import FastPaths, FastRoute, derive
from careledger.api._fhir_routes import FhirRoutes
from careledger.api._responses import error_response
from careledger.config import Settings
from careledger.errors import AccessDenied, CareLedgerError
from careledger.node import Node
from careledger.testdata import scratch_node

# The two interactions the fast path is for: FhirRoutes' read by id (GET) and create (POST), wherever they are routed.
SERVED = {(FhirRoutes.read, "GET"), (FhirRoutes.create, "POST")}
# What fills each parameter of a template: a FHIR type's name, which is a valid FHIR id too, so that a pattern for
# `/{type}/{id}` or `/{type}` written by hand would take it wherever it stood.
SAMPLE = "Observation"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with scratch_node(Path(tmp_path_factory.mktemp("fast-paths")) / "home", Settings(chain="memory")) as node:
        yield node


def _app(node: Node) -> FastAPI:
    secret = new_secret()
    auth = SiweAuth(
        domain="node.test",
        chain_id=node.chain_id,
        secret=secret,
        issuer="test",
        identity=node.identity,
        shared=node.shared,
    )
    return create_app(node, auth)


class _Probe:
    """The fast path installed in a built app, with FastAPI behind it replaced by a note that a request went on."""

    def __init__(self, app: FastAPI) -> None:
        layer: Any = app.build_middleware_stack()
        while not isinstance(layer, FastPaths):
            layer = layer.app
        self._fast = layer
        self._passed_on = 0
        layer.app = self._fastapi

    async def _fastapi(self, scope: Any, receive: Any, send: Any) -> None:
        self._passed_on += 1
        await Response(status_code=204)(scope, receive, send)

    def takes(self, method: str, path: str) -> bool:
        """Whether the fast path answers `method path` itself (unsigned: a served handler only refuses it)."""
        before = self._passed_on
        _call(self._fast, path, method=method)
        return self._passed_on == before


def _request(template: str) -> str:
    """A concrete path of a route's template."""
    return re.sub(r"{[^}]+}", SAMPLE, template)


def _shadowed(app: FastAPI) -> tuple[list[str], int]:
    """What the fast path gets wrong over the whole route table, and how many of its own routes the walk met."""
    probe = _Probe(app)
    wrong: list[str] = []
    served = 0
    for route in iter_route_contexts(app.routes):
        function = getattr(route.endpoint, "__func__", route.endpoint)
        for method in sorted(route.methods or {"GET", "POST"}):
            own = (function, method) in SERVED
            served += own
            path = _request(route.path_format or "")
            if probe.takes(method, path) != own:
                verb = "not taken" if own else "taken"
                wrong.append(f"{method} {path} ({route.path_format}, {route.name}) is {verb} by the fast path")
    return wrong, served


def test_no_route_of_the_app_is_shadowed_by_the_fast_path_and_its_own_are_taken(node: Node) -> None:
    wrong, served = _shadowed(_app(node))
    assert wrong == []
    assert served == len(SERVED)


async def _throwaway() -> Response:
    """A route of the kind a pattern for `/{type}/{id}` or `/{type}` written by hand would swallow."""
    return Response(status_code=204)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/Patient/me"), ("GET", "/Device/{device_id}"), ("POST", "/Subscription")]
)
def test_a_route_added_before_the_fhir_ones_is_not_shadowed(node: Node, method: str, path: str) -> None:
    app = _app(node)
    app.router.routes.insert(0, APIRoute(path, _throwaway, methods=[method]))
    assert _shadowed(app) == ([], len(SERVED))
    assert not _Probe(app).takes(method, _request(path))


def test_the_same_route_added_after_them_is_the_fhir_route_s_as_in_fastapi(node: Node) -> None:
    app = _app(node)
    app.router.routes.append(APIRoute("/Patient/me", _throwaway, methods=["GET"]))
    assert _Probe(app).takes("GET", "/Patient/me")  # FastAPI, too, reads a Patient with the id `me`


class _Recorder:
    """A small route table and the app behind the middleware; the read and create handlers note what reached them."""

    def __init__(self, failure: CareLedgerError | None = None) -> None:
        self.routed: list[str] = []
        self.read: list[tuple[str, str, str | None, str | None]] = []
        self.created: list[tuple[str, bytes, str | None, str | None]] = []
        self.failure = failure

    async def app(self, scope: Any, _receive: Any, send: Any) -> None:
        self.routed.append(scope["path"])
        await Response(status_code=204)(scope, _receive, send)

    async def read_handler(
        self, path: tuple[str, ...], _request: Request, authorization: str | None, purpose: str | None
    ) -> Response:
        resource_type, record_id = path
        if self.failure is not None:
            raise self.failure
        self.read.append((resource_type, record_id, authorization, purpose))
        return JSONResponse({"resourceType": resource_type, "id": record_id})

    async def create_handler(
        self, path: tuple[str, ...], request: Request, authorization: str | None, purpose: str | None
    ) -> Response:
        (resource_type,) = path
        if self.failure is not None:
            raise self.failure
        self.created.append((resource_type, await request.body(), authorization, purpose))
        return JSONResponse({"resourceType": resource_type, "id": "new"}, status_code=201)

    def middleware(self) -> FastPaths:
        router = APIRouter()
        router.add_api_route("/Consent/{grant_id}", _endpoint("consent"), methods=["GET"])
        router.add_api_route("/Claim", _endpoint("claim"), methods=["POST"])
        router.add_api_route("/{resource_type}", create := _endpoint("create"), methods=["POST"])
        router.add_api_route("/{resource_type}/_history", _endpoint("history"), methods=["GET"])
        router.add_api_route("/{resource_type}/{record_id}", read := _endpoint("read"), methods=["GET"])
        app = FastAPI()
        app.include_router(router)
        fast = [FastRoute("GET", read, self.read_handler), FastRoute("POST", create, self.create_handler)]
        return FastPaths(self.app, routes=app.routes, fast=fast, error=error_response)


def _endpoint(name: str) -> Callable[[], Any]:
    async def endpoint() -> None:
        """A route of the small table."""

    endpoint.__name__ = name
    return endpoint


def _call(
    middleware: FastPaths,
    path: str,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: str = "GET",
    body: bytes = b"{}",
) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers or []}
    asyncio.run(middleware(scope, receive, send))
    return int(sent[0]["status"])


def test_a_read_by_id_goes_to_the_read_handler_with_the_first_of_its_headers() -> None:
    recorder = _Recorder()
    headers = [(b"authorization", b"Bearer t"), (b"x-purpose-of-use", b"HPAYMT"), (b"authorization", b"Bearer u")]
    assert _call(recorder.middleware(), "/Observation/obs-1.v2", headers=headers) == 200
    assert recorder.read == [("Observation", "obs-1.v2", "Bearer t", "HPAYMT")]  # as FastAPI's Header reads it
    assert recorder.routed == []


def test_a_create_goes_to_the_create_handler_with_its_body_and_headers() -> None:
    recorder = _Recorder()
    headers = [(b"authorization", b"Bearer t")]
    assert _call(recorder.middleware(), "/Observation", headers=headers, method="POST", body=b"{}") == 201
    assert recorder.created == [("Observation", b"{}", "Bearer t", None)]
    assert recorder.routed == []


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/Consent/0x01", b""),  # a route before the read
        ("GET", "/Observation/_history", b""),
        ("GET", "/Observation/obs-1/_history/2", b""),  # no route of the table: FastAPI's 404
        ("GET", "/Observation/obs-1", b"_format=json"),  # FastAPI parses query strings
        ("HEAD", "/Observation/obs-1", b""),
        ("POST", "/Claim", b""),  # a route before the create
        ("POST", "/Observation", b"identifier=x"),
        ("POST", "/Observation/obs-1", b""),  # FastAPI's 405
        ("PUT", "/Observation", b""),
    ],
)
def test_everything_else_goes_to_fastapi(method: str, path: str, query: bytes) -> None:
    recorder = _Recorder()
    assert _call(recorder.middleware(), path, query, method=method) == 204
    assert recorder.routed == [path]
    assert recorder.read == recorder.created == []


def test_a_refusal_is_the_same_operation_outcome_as_the_route_gives() -> None:
    recorder = _Recorder(AccessDenied("no consent from the patient"))
    middleware = recorder.middleware()
    assert _call(middleware, "/Observation/obs-1") == 403
    assert _call(middleware, "/Observation", method="POST", body=b"{}") == 403


def test_an_endpoint_no_route_has_cannot_have_a_fast_path() -> None:
    with pytest.raises(CareLedgerError, match="no GET route has the endpoint"):
        derive(FastAPI().routes, FastRoute("GET", _endpoint("nowhere"), _Recorder().read_handler))
