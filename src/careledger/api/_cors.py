"""CORS for registered SMART apps: a browser app served from another origin may call the API and the token endpoint.

```
request ─► Origin? ─ none ─────────────────────────────────────────────► the app, untouched
             │ a registered app's origin ─► OPTIONS + Access-Control-Request-Method ─► 204, what it may send
             │                            └► any other ─► the app; its answer (errors too) gets ACAO, Vary
             └ another origin ─► a preflight: 403; anything else: the app, and no CORS header
```

An app's origins are those of its registered redirect URIs (`ClientRegistry.origins`). This is
the outermost layer, so every answer a registered app's page may need to read carries the
header, a 401, a 413 or a 429 as well as a 200. A request without `Origin` (a server-side
client, the benchmarks, any same-origin GET) costs one scan of its headers. Credentials
(cookies) are never allowed: tokens travel in `Authorization`. The portal, which is
cookie-signed, is left out. An `OPTIONS` that is not a preflight (FHIR's capabilities
interaction) goes on to the app.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.errors import AccessDenied, CareLedgerError
from careledger.identity import web_origin

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, If-Match, If-None-Exist, If-None-Match, If-Modified-Since, Prefer, "
    "X-Purpose-Of-Use"
)
EXPOSE_HEADERS = "Location, ETag, Content-Location, Last-Modified, Retry-After, X-Progress, WWW-Authenticate"
MAX_AGE_SECONDS = 600
_NOT_HERE = ("/portal",)


class Cors:
    """ASGI middleware answering preflights of registered origins and marking their answers readable."""

    def __init__(
        self, app: ASGIApp, *, origins: Callable[[], frozenset[str]], error: Callable[[CareLedgerError], ASGIApp]
    ) -> None:
        self.app = app
        self._origins = origins
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NOT_HERE):
            await self.app(scope, receive, send)
            return
        origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight = value
        if origin is None:
            await self.app(scope, receive, send)
            return
        preflight = preflight if scope["method"] == "OPTIONS" else None
        allowed = web_origin(origin) in self._origins()
        if preflight is not None:
            if not allowed:
                await self._error(AccessDenied("this origin is not one of a registered app"))(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 204, "headers": _preflight(origin)})
            await send({"type": "http.response.body", "body": b""})
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_readable(origin)]
            await send(message)

        await self.app(scope, receive, marked)


def _readable(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]


def _preflight(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", ALLOW_METHODS.encode()),
        (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
        (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
        (b"vary", b"Origin"),
    ]
