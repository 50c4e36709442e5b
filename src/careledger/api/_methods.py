"""HEAD, OPTIONS and 405 on every path the API serves, read from FastAPI's own route table.

HEAD is GET without the body (RFC 9110 §9.3.2): a HEAD goes to the app as the GET it
stands for, so it takes the same route (the fast read too), the same door, the same
policy decision and the same audit entry as the GET (it tells whether a record exists
and its version: it is a read), and its answer is the GET's status and headers with the
body dropped. OPTIONS answers 200 with `Allow`, the methods the routes matching the path
take there; R4 defines the capabilities interaction as `GET [base]/metadata` only, so an
OPTIONS of the base is answered as any other path's. A CORS preflight is answered by the
CORS middleware in front of this one, never here.

The same `Allow` goes with every 405, so the two never disagree: a route's own 405 (a
write of a read-only type, a method FastAPI found no route for, which names only the
methods of the first route that matched) gets it on the way out; and a 404 of a method
the path does not take is that 405 (`POST /metadata` reaches the generic create, whose
"no resource type 'metadata'" would mislead). Only answers of 404 or 405 pay for the
lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress

from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.errors import CareLedgerError, MethodNotAllowed

# Whether a route whose path matched with these parameters serves this method there (the generic FHIR routes
# serve only the types this node has, and writes only of those it lets be written).
Serves = Callable[[Mapping[str, str], str], bool]
ErrorResponder = Callable[[CareLedgerError], Response]
_REFUSED = frozenset({404, 405})  # the answers that may be a method the path does not take


class _BodyDropped(Exception):
    """A HEAD's headers and empty body are sent: the rest of a streamed GET answer is not wanted."""


class HeadAndOptions:
    """ASGI middleware: HEAD answered as GET without its body, OPTIONS with the `Allow` of the path in `routes`,
    and every 405 with that `Allow`.

    `routes` is FastAPI's route table (`app.routes`), read when the middleware is built."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], serves: Serves, error: ErrorResponder) -> None:
        self.app = app
        self._error = error
        self._routes = [
            (context.path_regex, frozenset(context.methods))
            for context in iter_route_contexts(routes)
            if context.methods and getattr(context, "path_regex", None) is not None
        ]
        self._serves = serves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method") if scope["type"] == "http" else None
        if method is None:
            await self.app(scope, receive, send)
            return
        known = not scope.get("root_path")  # under a root path the table's patterns do not see the path as sent
        if method == "OPTIONS" and known and (allowed := self.allowed(scope["path"])):
            await Response(status_code=200, headers={"Allow": ", ".join(allowed)})(scope, receive, send)
            return
        if method == "HEAD":
            scope, send = {**scope, "method": "GET"}, _headers_only(send)
        with suppress(_BodyDropped):
            await self.app(scope, receive, self._allowing(method, scope, receive, send) if known else send)

    def allowed(self, path: str) -> list[str]:
        """The methods served at `path` (HEAD wherever GET is, and OPTIONS); none if no route matches it."""
        methods: set[str] = set()
        for pattern, route_methods in self._routes:
            if (match := pattern.match(path)) is not None:
                methods.update(m for m in route_methods if self._serves(match.groupdict(), m))
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"}) if methods else []

    def _allowing(self, method: str, scope: Scope, receive: Receive, send: Send) -> Send:
        """`send` whose 405 says `Allow`, and whose 404 of a `method` the path does not take is that 405."""
        path = scope["path"]
        replaced = False

        async def send_allowing(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the body of the answer the 405 replaced
            if message["type"] == "http.response.start" and message["status"] in _REFUSED:
                allowed = self.allowed(path)
                allow = ", ".join(allowed)
                if allowed and message["status"] == 405:  # the route's own words (and format), with `Allow`
                    headers = MutableHeaders(raw=list(message["headers"]))
                    headers["Allow"] = allow
                    message = {**message, "headers": headers.raw}
                elif allowed and method not in allowed:
                    replaced = True
                    refusal = self._error(MethodNotAllowed(f"this path takes {allow}, not {method[:20]}"))
                    refusal.headers["Allow"] = allow
                    await refusal(scope, receive, send)
                    return
            await send(message)

        return send_allowing


def _headers_only(send: Send) -> Send:
    """`send` for a HEAD: the GET's start (status, headers, `Content-Length` included) and an empty body."""

    async def send_headers(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if message.get("more_body", False):
            raise _BodyDropped  # a stream (the alert stream never ends): stop it, the HEAD is answered

    return send_headers
