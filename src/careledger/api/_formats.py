"""JSON or XML: the one place the API negotiates FHIR formats (`_format`, `Accept`, `Content-Type`).

Routes speak FHIR JSON only. This middleware turns an XML body into JSON before the route
sees it, and the route's JSON answer into XML when the client asked for XML, so every
FHIR route (a read, a search, an error) has both formats and no route can forget one (but the
types R4B changed or dropped, whose XML is limited: see `careledger.fhir._xml`). A
client that accepts neither gets 406; a body in neither is refused by `BoundedRequests`
(415). Sign-in, the node-to-node exchange and the API docs are not FHIR and are left alone.

The FHIR version is R4 (4.0.1): every FHIR answer's media type says `fhirVersion=4.0` (JSON's is
`_responses.FHIR_JSON`, which every answer is built with, refusals of the outer layers too), and a
`fhirVersion` parameter naming another release is refused as FHIR's http.html#version-parameter
says: 406 in `Accept` (or `_format`), 415 in `Content-Type`. `4.0` and `4.0.1` are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.api._limits import JSON_TYPES, XML_TYPES, replay
from careledger.errors import CareLedgerError, NotAcceptable, UnsupportedMediaType
from careledger.fhir import FHIR_VERSION, FHIR_VERSION_PARAMETER, is_r4_validated, json_to_xml, xml_to_json

ErrorResponder = Callable[[CareLedgerError], Response]

FHIR_XML = "application/fhir+xml"
_FORMAT_PARAM = {"json": "json", "xml": "xml"} | dict.fromkeys(JSON_TYPES, "json") | dict.fromkeys(XML_TYPES, "xml")
_ANY = frozenset({"*/*", "application/*"})
_VERSIONS = frozenset({FHIR_VERSION_PARAMETER, FHIR_VERSION})  # what a `fhirVersion` parameter may name
# An XML answer's media type; a JSON answer's is `_responses.FHIR_JSON`, both saying the release served.
_XML_ANSWER = f"{FHIR_XML}; charset=utf-8; fhirVersion={FHIR_VERSION_PARAMETER}"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_FHIR = (
    "/auth/",
    "/exchange/",
    "/research/",
    "/devices/",
    "/alerts/",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/portal",
    "/cds-services",  # CDS Hooks: JSON only, its own media type checked by its route once the client is known
    "/epcis/",  # EPCIS 2.0: JSON and JSON-LD, refusals as problem+json (_epcis_routes)
    "/supply/",
)


def wanted_format(format_param: str | None, accept: str | None) -> str:
    """`json` or `xml`: what `_format` names, else the best of `Accept` (JSON on a tie or when absent);
    406 if neither."""
    if format_param is not None:
        media, params = media_type(format_param)
        found = _FORMAT_PARAM.get(media)
        if found is None:
            raise NotAcceptable(f"_format {format_param[:60]!r} is not one this server answers in: json or xml")
        if not serves_version(params):
            raise NotAcceptable(f"_format {format_param[:60]!r} names a FHIR version this server does not serve: 4.0")
        return found
    if not accept:
        return "json"
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, params = media_type(part)
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 0.0
        kind = "json" if media in JSON_TYPES | _ANY else "xml" if media in XML_TYPES else None
        if kind is not None and quality > 0 and serves_version(params):
            candidate = (quality, kind == "json", kind)
            best = candidate if best is None or candidate > best else best
    if best is None:
        raise NotAcceptable(
            f"Accept {accept[:80]!r} names no format this server answers in: {FHIR_XML} or JSON, "
            f"fhirVersion={FHIR_VERSION_PARAMETER}"
        )
    return best[2]


def media_type(value: str) -> tuple[str, dict[str, str]]:
    """A media type, lower case, and its parameters (`application/fhir+json; fhirVersion=4.0`)."""
    media, *parts = (piece.strip() for piece in value.split(";"))
    params = {}
    for part in parts:
        name, _, found = part.partition("=")
        params[name.strip()] = found.strip().strip('"')
    return media.lower(), params


def serves_version(params: dict[str, str]) -> bool:
    """Whether a media type's parameters name no FHIR version, or the one this server serves (R4)."""
    return params.get("fhirVersion", FHIR_VERSION_PARAMETER) in _VERSIONS


class FhirFormats:
    """ASGI middleware: XML bodies in as JSON, JSON answers out as XML when the client asks for XML."""

    def __init__(self, app: ASGIApp, *, error: ErrorResponder) -> None:
        self.app = app
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NOT_FHIR):
            await self.app(scope, receive, send)
            return
        headers = MutableHeaders(scope=scope)
        try:
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            wanted = wanted_format(query.get("_format"), headers.get("accept"))
            named = scope["path"].strip("/").split("/")[0]
            if wanted == "xml" and scope["method"] in _WRITES and is_r4_validated(named):
                # refused before the write, whose answer XML may not be able to carry (see careledger.fhir._xml)
                raise NotAcceptable(f"a write of {named} is answered in JSON only: ask for application/fhir+json")
            sent, params = media_type(headers.get("content-type", ""))
            if not serves_version(params):
                raise UnsupportedMediaType(
                    f"Content-Type names fhirVersion={params['fhirVersion'][:20]}; "
                    f"this server reads FHIR R4: fhirVersion={FHIR_VERSION_PARAMETER}"
                )
            if sent in XML_TYPES:
                body = xml_to_json(await _whole_body(receive))
                headers["content-type"] = "application/fhir+json"
                headers["content-length"] = str(len(body))
                receive = replay(body, receive)
        except CareLedgerError as exc:
            await self._error(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send if wanted == "json" else _as_xml(send, self._error))


def _as_xml(send: Send, error: ErrorResponder) -> Send:
    """A `send` that holds the response back and sends its FHIR JSON body as XML (or, for a resource XML cannot
    carry, the OperationOutcome of a 406 in XML)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def send_xml(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = MutableHeaders(raw=list(start["headers"]))
        if body and headers.get("content-type", "").split(";")[0] in JSON_TYPES:
            try:
                body = json_to_xml(json.loads(body))
            except NotAcceptable as exc:
                refused = error(exc)
                start = {**start, "status": refused.status_code}
                headers = MutableHeaders(raw=list(refused.raw_headers))
                body = json_to_xml(json.loads(bytes(refused.body)))
            headers["content-type"] = _XML_ANSWER
            headers["content-length"] = str(len(body))
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return send_xml


async def _whole_body(receive: Receive) -> bytes:
    """The body `BoundedRequests` already read and bounded, replayed in one message."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
