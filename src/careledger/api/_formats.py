"""JSON or XML: the one place the API negotiates FHIR formats (`_format`, `Accept`, `Content-Type`).

Routes speak FHIR JSON only. This middleware turns an XML body into JSON before the route
sees it, and the route's JSON answer into XML when the client asked for XML, so every
FHIR route (a read, a search, an error) has both formats and no route can forget one. A
client that accepts neither gets 406; a body in neither is refused by `BoundedRequests`
(415). Sign-in, the node-to-node exchange and the API docs are not FHIR and are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.api._limits import JSON_TYPES, XML_TYPES, replay
from careledger.errors import CareLedgerError, NotAcceptable
from careledger.fhir import json_to_xml, xml_to_json

ErrorResponder = Callable[[CareLedgerError], Response]

FHIR_XML = "application/fhir+xml"
_FORMAT_PARAM = {"json": "json", "xml": "xml"} | dict.fromkeys(JSON_TYPES, "json") | dict.fromkeys(XML_TYPES, "xml")
_ANY = frozenset({"*/*", "application/*"})
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
)


def wanted_format(format_param: str | None, accept: str | None) -> str:
    """`json` or `xml`: what `_format` names, else the best of `Accept` (JSON on a tie or when absent);
    406 if neither."""
    if format_param is not None:
        found = _FORMAT_PARAM.get(format_param.split(";")[0].strip().lower())
        if found is None:
            raise NotAcceptable(f"_format {format_param[:60]!r} is not one this server answers in: json or xml")
        return found
    if not accept:
        return "json"
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        kind = "json" if media in JSON_TYPES | _ANY else "xml" if media in XML_TYPES else None
        if kind is not None and quality > 0:
            candidate = (quality, kind == "json", kind)
            best = candidate if best is None or candidate > best else best
    if best is None:
        raise NotAcceptable(f"Accept {accept[:80]!r} names no format this server answers in: {FHIR_XML} or JSON")
    return best[2]


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
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type in XML_TYPES:
                body = xml_to_json(await _whole_body(receive))
                headers["content-type"] = "application/fhir+json"
                headers["content-length"] = str(len(body))
                receive = replay(body, receive)
        except CareLedgerError as exc:
            await self._error(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send if wanted == "json" else _as_xml(send))


def _as_xml(send: Send) -> Send:
    """A `send` that holds the response back and sends its FHIR JSON body as XML."""
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
            body = json_to_xml(json.loads(body))
            headers["content-type"] = f"{FHIR_XML}; charset=utf-8"
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
