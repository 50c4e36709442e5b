"""The hot paths: what FastAPI would route to the read by id or the create goes straight to its handler.

A read by id is the request an EHR makes most, and a create the one a device or an import
makes most. FastAPI's route matching, dependency solving and request wrapping took more
CPU per read than the read itself (the record's decryption, the consent check and the
audit entry together), and about a tenth of a create's; without this middleware the node
serves about a third fewer reads (docs/api.md). The handlers are the very ones the
declared routes call (`_fhir_routes`), so behaviour, errors and OpenAPI stay those of the
routes.

Which requests are taken is not written here but read from FastAPI's own route table
when the middleware is built (at the first request, once every route is in place): a
request is taken only if the route FastAPI would dispatch it to, the first in FastAPI's
order whose path pattern matches and which accepts its method, is the one whose endpoint
the entry names. So a route declared before the generic FHIR ones (`GET /Consent/{id}`,
`POST /Claim`, the portal's pages) is reached as FastAPI reaches it, and a new route needs
no change here; `tests/api/test_fast_paths.py` walks the real table to show it. A request
with a query string (FastAPI parses it) or under a root path goes on to FastAPI as well. A
HEAD arrives here as the GET it stands for (`_methods`), so a HEAD of a record takes the
fast read too, and loses its body on the way out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.errors import CareLedgerError

# (the path's parameters, the request, Authorization, X-Purpose-Of-Use) -> the response, as the route gives it.
Handler = Callable[[tuple[str, ...], Request, str | None, str | None], Awaitable[Response]]
ErrorResponder = Callable[[CareLedgerError], Response]

# What a route FastAPI cannot describe by a path pattern (none today) is taken to match: the fast path yields to it.
_ANY_PATH = re.compile("")


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One entry of the table: requests FastAPI would send to the `method` route of `endpoint` go to `handler`."""

    method: str
    endpoint: Callable[..., object]
    handler: Handler


@dataclass(frozen=True, slots=True)
class _Derived:
    """An entry with what the route table says of it: its route's path pattern, and those of the routes before it
    that accept its method (FastAPI dispatches to the first route that matches in full)."""

    route: FastRoute
    pattern: re.Pattern[str]
    earlier: tuple[re.Pattern[str], ...]

    def parameters(self, method: str, path: str) -> tuple[str, ...] | None:
        """The path's parameters if FastAPI would send `method path` to this entry's route, else None."""
        if method != self.route.method or (match := self.pattern.match(path)) is None:
            return None
        for earlier in self.earlier:
            if earlier.match(path) is not None:
                return None
        return match.groups()


def derive(table: Sequence[BaseRoute], route: FastRoute) -> _Derived:
    """`route` as FastAPI's `table` routes it: CareLedgerError if no route of the table has its method and endpoint."""
    earlier: list[re.Pattern[str]] = []
    for context in iter_route_contexts(table):
        if isinstance(context.route, WebSocketRoute):
            continue  # never an HTTP request's route (FastAPI 0.138 gives it no methods and no pattern)
        methods = context.methods
        if methods and route.method not in methods:
            continue  # at most a partial match (405), which any full match after it beats
        if methods and context.endpoint == route.endpoint:
            return _Derived(route, context.path_regex, tuple(dict.fromkeys(earlier)))
        earlier.append(getattr(context, "path_regex", None) or _ANY_PATH)
    raise CareLedgerError(f"no {route.method} route has the endpoint {route.endpoint!r}: no fast path can stand for it")


class FastPaths:
    """ASGI middleware answering the requests FastAPI would route to one of `fast`; every other request goes to `app`.

    `routes` is FastAPI's route table (`app.routes`), read when the middleware is built."""

    def __init__(
        self, app: ASGIApp, *, routes: Sequence[BaseRoute], fast: Sequence[FastRoute], error: ErrorResponder
    ) -> None:
        self.app = app
        self._table = tuple(derive(routes, route) for route in fast)
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.route_for(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, parameters = found
        authorization = purpose = None
        for name, value in scope["headers"]:  # the first of each, as FastAPI's Header parameters take it
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"x-purpose-of-use" and purpose is None:
                purpose = value.decode("latin-1")
        try:
            response = await route.handler(parameters, Request(scope, receive), authorization, purpose)
        except CareLedgerError as exc:
            response = self._error(exc)
        await response(scope, receive, send)

    def route_for(self, scope: Scope) -> tuple[FastRoute, tuple[str, ...]] | None:
        """The entry that answers this request and the path's parameters, or None if FastAPI answers it."""
        if scope["type"] != "http" or scope["query_string"] or scope.get("root_path"):
            return None
        for derived in self._table:
            parameters = derived.parameters(scope["method"], scope["path"])
            if parameters is not None:
                return derived.route, parameters
        return None
