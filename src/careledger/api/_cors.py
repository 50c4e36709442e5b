"""CORS for registered SMART apps: a browser app served from another origin may call the API and the token endpoint.

```
request ─► Origin? ─ none ─────────────────────────────────────────────────────► the app, untouched
             │ Cors (outermost) ─► the app's answer, errors too: Vary: Origin, and for a registered app's
             │                     origin ACAO and the headers it may read; an unexpected failure: a 500
             │                     OperationOutcome so marked (logged)
             └─► BoundedRequests (rate) ─► Preflights: OPTIONS + Access-Control-Request-Method
                                             ├ a registered app's origin: 204, what it may send
                                             └ another origin: 403
```

An app's origins are those of its registered redirect URIs (`ClientRegistry.origins`). `Cors`
is the outermost layer, so every answer a registered app's page may need to read carries the
header, a 401, a 413, a 429 or a 500 as well as a 200, and every answer to a request naming
an origin says it varies by it (a shared cache must not give one origin's answer to
another). Preflights are answered inside `BoundedRequests`, so they count against the same
limits as the requests they precede. A request without `Origin` (a server-side client, the
benchmarks, any same-origin GET) costs one scan of its headers. Credentials (cookies) are
never allowed: tokens travel in `Authorization`. The portal, which is cookie-signed, is left
out. An `OPTIONS` that is not a preflight (FHIR's capabilities interaction) goes on to the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger import request_context
from careledger.errors import AccessDenied, CareLedgerError
from careledger.identity import web_origin

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, If-Match, If-None-Exist, If-None-Match, If-Modified-Since, Prefer, "
    "X-Purpose-Of-Use"
)
# The headers a page may read: FHIR's and the API's own, and those of the EPCIS interface (its versions, its pages).
EXPOSE_HEADERS = (
    "Location, ETag, Content-Location, Last-Modified, Retry-After, X-Progress, WWW-Authenticate, Link, "
    "GS1-EPCIS-Version, GS1-CBV-Version"
)
MAX_AGE_SECONDS = 600
_NOT_HERE = ("/portal",)
# CDS Hooks services answer any EHR's page (CDS Hooks 2.0 asks for CORS): each call is a signed JWT, no cookie.
_ANY_ORIGIN = "/cds-services"
_log = logging.getLogger("careledger.api")


class _OriginLayer:
    """An ASGI layer around `app` that tells a registered app's origin (`origins`: those of the apps registered
    now) from any other, and answers with the app's own error answer (`error`)."""

    def __init__(
        self, app: ASGIApp, *, origins: Callable[[], frozenset[str]], error: Callable[[CareLedgerError], ASGIApp]
    ) -> None:
        self.app = app
        self._origins = origins
        self._error = error

    def _registered(self, origin: str) -> bool:
        """Whether `origin` is that of a registered app."""
        return web_origin(origin) in self._origins()


class Cors(_OriginLayer):
    """ASGI middleware marking the answers to a request that names its origin: readable by a registered app's
    page (errors included), and varying by `Origin` whoever asks."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _origin(scope)
        if origin is None:
            await self.app(scope, receive, send)
            return
        added = _readable(origin) if self._registered(origin) or _open_to_all(scope) else _VARY
        started = False

        async def marked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        try:
            await self.app(scope, receive, marked)
        except Exception as exc:
            if started:
                raise
            # Starlette's own 500, outside this layer, would carry no CORS header: the app's page could not read it.
            if not request_context.note_failure(exc):  # logged once, by the request log, with its route
                _log.exception("%s request failed", scope["method"])
            await self._error(CareLedgerError(_FAILED))(scope, receive, marked)


class Preflights(_OriginLayer):
    """ASGI middleware answering CORS preflights, inside `BoundedRequests` (so rate-limited as the requests they
    precede): 204 with what a registered app's origin may send, 403 for any other; `Cors` adds the rest."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _origin(scope) if scope["type"] == "http" and scope["method"] == "OPTIONS" else None
        if origin is None or not any(name == b"access-control-request-method" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        if not (self._registered(origin) or _open_to_all(scope)):
            await self._error(AccessDenied("this origin is not one of a registered app"))(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 204, "headers": _PREFLIGHT})
        await send({"type": "http.response.body", "body": b""})


def _origin(scope: Scope) -> str | None:
    """The `Origin` of an HTTP request outside the portal, if it names one."""
    if scope["type"] != "http" or scope["path"].startswith(_NOT_HERE):
        return None
    for name, value in scope["headers"]:
        if name == b"origin":
            return str(value.decode("latin-1"))
    return None


def _open_to_all(scope: Scope) -> bool:
    """Whether any origin may call the path of `scope` (the CDS services)."""
    path: str = scope["path"]
    return path == _ANY_ORIGIN or path.startswith(_ANY_ORIGIN + "/")


def _readable(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
        *_VARY,
    ]


_VARY = [(b"vary", b"Origin")]
_PREFLIGHT = [
    (b"access-control-allow-methods", ALLOW_METHODS.encode()),
    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
    (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
]
_FAILED = "the node failed to answer this request; its log says why"
