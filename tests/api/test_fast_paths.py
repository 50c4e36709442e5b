"""Which requests the hot paths answer themselves, and that they answer them as the routes would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from careledger.api._fast_paths import CREATE, READ, FastPaths, FastRoute
from careledger.api._responses import error_response
from careledger.errors import AccessDenied, CareLedgerError


class _Recorder:
    """The app behind the middleware, and the read and create handlers: each notes what reached it."""

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
        routes = [FastRoute("GET", READ, self.read_handler), FastRoute("POST", CREATE, self.create_handler)]
        return FastPaths(self.app, routes=routes, error=error_response)


def _request(
    middleware: FastPaths,
    path: str,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    method: str = "GET",
    body: bytes = b"",
) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers or []}
    asyncio.run(middleware(scope, receive, send))
    return int(sent[0]["status"])


def test_a_plain_read_by_id_goes_to_the_read_handler_with_its_headers() -> None:
    recorder = _Recorder()
    middleware = recorder.middleware()
    headers = [(b"authorization", b"Bearer t"), (b"x-purpose-of-use", b"HPAYMT")]
    assert _request(middleware, "/Observation/obs-1.v2", headers=headers) == 200
    assert recorder.read == [("Observation", "obs-1.v2", "Bearer t", "HPAYMT")]
    assert recorder.routed == []


def test_a_plain_create_goes_to_the_create_handler_with_its_body_and_headers() -> None:
    recorder = _Recorder()
    headers = [(b"authorization", b"Bearer t")]
    assert _request(recorder.middleware(), "/Observation", headers=headers, method="POST", body=b"{}") == 201
    assert recorder.created == [("Observation", b"{}", "Bearer t", None)]
    assert recorder.routed == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/Consent/0x01", b""),  # its own route
        ("/Observation/_history", b""),  # type history
        ("/Patient/p1/$everything", b""),
        ("/Observation/obs-1/_history/2", b""),
        ("/auth/nonce", b""),  # lower case: not a resource type
        ("/Observation/obs-1", b"_format=json"),  # FastAPI parses query strings
        ("/Observation/" + "x" * 65, b""),  # not a FHIR id
    ],
)
def test_everything_else_goes_to_fastapi(path: str, query: bytes) -> None:
    recorder = _Recorder()
    assert _request(recorder.middleware(), path, query) == 204
    assert recorder.routed == [path]
    assert recorder.read == []


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/", b""),  # a Bundle
        ("/auth/login", b""),
        ("/exchange/fetch", b""),
        ("/Observation", b"_format=json"),
        ("/Observation/obs-1", b""),  # POST to an instance: FastAPI's 405
        ("/Observation/_search", b""),
    ],
)
def test_other_posts_go_to_fastapi(path: str, query: bytes) -> None:
    recorder = _Recorder()
    assert _request(recorder.middleware(), path, query, method="POST", body=b"{}") == 204
    assert recorder.routed == [path]
    assert recorder.created == []


def test_a_refusal_is_the_same_operation_outcome_as_the_route_gives() -> None:
    recorder = _Recorder(AccessDenied("no consent from the patient"))
    middleware = recorder.middleware()
    assert _request(middleware, "/Observation/obs-1") == 403
    assert _request(middleware, "/Observation", method="POST", body=b"{}") == 403
