"""One access log line and one set of metrics per request, and a request id that follows it into the audit log.

```
request ─► RequestLog ─ X-Request-ID: kept if a sane short token, else a fresh one ─► request_context.serving(id)
              │            (the audit entries the request writes carry it: AuditEvent.entity XrequestId)
              ▼
           the app ─► the answer, with X-Request-ID ─► the client
              │
              ▼ (once the answer is out)
           access log: method, route template, status, duration, caller's role, request id
           metrics: requests by method, route template and status class; latency by method and route
```

What is logged names the route's template (`/{resource_type}/{id}`), never the path as sent (which
holds record ids) nor the query (which holds search values: names, birth dates). A request that
fails is logged once, here, with its cause, and answered with a 500 OperationOutcome; nothing
outside this layer logs it again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence

from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger import request_context
from careledger.errors import CareLedgerError

_log = logging.getLogger("careledger.access")
_errors = logging.getLogger("careledger.api")

UNMATCHED = "(unmatched)"  # the template of a path no route takes: never the path itself
_FAILED = "the server failed to answer this request; it is logged with its request id (X-Request-ID)"

_NAMED_GROUP = re.compile(r"\(\?P<\w+>")

# What is measured of each request: (method, route template, status, seconds).
Observer = Callable[[str, str, int, float], None]
ErrorResponder = Callable[[CareLedgerError], Response]


class RequestLog:
    """ASGI middleware, outermost: the request id, the access log line and the request's metrics."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], observe: Observer, error: ErrorResponder) -> None:
        self.app = app
        self._routes = routes
        self._observe = observe
        self._error = error
        self._table: _Templates | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        served = request_context.Served(request_context.request_id(_header(scope, b"x-request-id")))
        status = 0
        echoed = [(b"x-request-id", served.id.encode())]

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *echoed]
            await send(message)

        with request_context.serving(served):
            try:
                await self.app(scope, receive, with_id)
            except Exception as exc:
                served.failure = exc
                if status:
                    raise  # the answer was under way: the connection is cut, as the server does
                await self._error(CareLedgerError(_FAILED))(scope, receive, with_id)
            finally:
                seconds = time.perf_counter() - started
                template = self.template(scope)
                if served.failure is not None:  # raised here, or answered with a 500 by a layer within (`Cors`)
                    _errors.error("%s %s failed", scope["method"], template, exc_info=served.failure)
                self._observe(scope["method"], template, status or 500, seconds)
                _log.info(
                    "%s %s %d %.1f ms role=%s",
                    scope["method"],
                    template,
                    status or 500,
                    seconds * 1000,
                    served.role or "-",
                    extra={
                        "http": {
                            "method": scope["method"],
                            "route": template,
                            "status": status or 500,
                            "duration_ms": round(seconds * 1000, 3),
                            "role": served.role,
                        }
                    },
                )

    def template(self, scope: Scope) -> str:
        """The template of the route that took (or would take) the request: the router's own answer when it
        routed it, else the first route whose path matches, by method if one does (a HEAD, a fast path, a
        refusal before routing). A route's fixed path is its own label whatever the method: a POST to `/healthz`
        is routed to `POST /{resource_type}` (and refused there), yet is a request for `/healthz`."""
        if self._table is None:  # read at the first request, once every route is in place (as `_fast_paths`)
            self._table = _Templates(self._routes)
        if scope["path"] in self._table.fixed:
            return str(scope["path"])
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path_format", None) or UNMATCHED)
        return self._table.of(scope["path"], "GET" if scope["method"] == "HEAD" else scope["method"])


class _Templates:
    """The route table as one regular expression per method: the first route in FastAPI's order whose path
    matches wins, as in FastAPI, in one match (a loop over ~100 routes took ~45 µs a request; this, ~8)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes: list[tuple[re.Pattern[str], frozenset[str] | None, str]] = []
        for context in iter_route_contexts(routes):
            pattern, methods = getattr(context, "path_regex", None), getattr(context, "methods", None)
            if pattern is not None:
                template = str(getattr(context, "path_format", None) or UNMATCHED)
                self._routes.append((pattern, frozenset(methods) if methods else None, template))
        self._any = _alternation([(pattern, path) for pattern, _, path in self._routes])
        self.fixed = frozenset(template for _, _, template in self._routes if "{" not in template)
        """The routes' paths without parameters: each one its own label (a bounded set)."""
        self._by_method: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {}

    def of(self, path: str, method: str) -> str:
        """The template of `path` for `method`; of any method's route if none takes this one (a 405)."""
        if method not in self._by_method:
            taking = [
                (pattern, template) for pattern, methods, template in self._routes if not methods or method in methods
            ]
            self._by_method[method] = _alternation(taking)
        for pattern, templates in (self._by_method[method], self._any):
            found = pattern.fullmatch(path)
            if found is not None and found.lastindex is not None:
                return templates[found.lastindex - 1]
        return UNMATCHED


def _alternation(routes: Sequence[tuple[re.Pattern[str], str]]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """One pattern trying each route's in order (each a group of its own, its parameters' groups unnamed), and the
    template of each group."""
    bodies = [_NAMED_GROUP.sub("(?:", pattern.pattern.removeprefix("^").removesuffix("$")) for pattern, _ in routes]
    return re.compile("|".join(f"({body})" for body in bodies) or "(?!)"), tuple(template for _, template in routes)


def _header(scope: Scope, name: bytes) -> str | None:
    """The first header `name` (lower case) of the request, if any."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
