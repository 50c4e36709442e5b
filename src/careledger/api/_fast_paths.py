"""The hot paths: `GET /{type}/{id}` and `POST /{type}` straight to their handlers, past FastAPI's routing.

A read by id is the request an EHR makes most, and a create the one a device or an import
makes most. FastAPI's route matching, dependency solving and request wrapping took more
CPU per read than the read itself (the record's decryption, the consent check and the
audit entry together), and about a tenth of a create's. This middleware is a dispatch
table of (method, path pattern, handler): the handlers are the very ones the declared
routes call (`_fhir_routes`), so behaviour, errors and OpenAPI stay those of the routes.
Anything else (a query string, a type or id that is not a plain FHIR one, `Consent`
reads, `_history`, `$operations`) goes on to FastAPI untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.errors import CareLedgerError

# (the path's groups, the request, Authorization, X-Purpose-Of-Use) -> the response, as the route gives it.
Handler = Callable[[tuple[str, ...], Request, str | None, str | None], Awaitable[Response]]
ErrorResponder = Callable[[CareLedgerError], Response]

# A read by id of any type but Consent (its own route reads the chain's index), and a create.
READ = re.compile(r"^/(?!Consent/)([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
CREATE = re.compile(r"^/(?!Claim$)([A-Z][A-Za-z]{1,63})$")  # a Claim is adjudicated: its own route


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One entry of the table: requests of `method` whose whole path matches `pattern` go to `handler`."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler


class FastPaths:
    """ASGI middleware answering the requests its table matches; every other request goes to `app`."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[FastRoute], error: ErrorResponder) -> None:
        self.app = app
        self._routes = tuple(routes)
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, path = found
        authorization = purpose = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-purpose-of-use":
                purpose = value.decode("latin-1")
        try:
            response = await route.handler(path, Request(scope, receive), authorization, purpose)
        except CareLedgerError as exc:
            response = self._error(exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[FastRoute, tuple[str, ...]] | None:
        if scope["type"] != "http" or scope["query_string"]:
            return None
        for route in self._routes:
            if route.method == scope["method"] and (match := route.pattern.match(scope["path"])) is not None:
                return route, match.groups()
        return None
