"""HEAD and OPTIONS on every path the API serves, read from FastAPI's own route table.

HEAD is GET without the body (RFC 9110 §9.3.2): a HEAD goes to the app as the GET it
stands for, so it takes the same route (the fast read too), the same door, the same
policy decision and the same audit entry as the GET (it tells whether a record exists
and its version: it is a read), and its answer is the GET's status and headers with the
body dropped. OPTIONS answers 200 with `Allow`, the methods the routes matching the path
take there; R4 defines the capabilities interaction as `GET [base]/metadata` only, so an
OPTIONS of the base is answered as any other path's. A CORS preflight is answered by the
CORS middleware in front of this one, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress

from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Whether a route whose path matched with these parameters serves this method there (the generic FHIR routes
# serve only the types this node has, and writes only of those it lets be written).
Serves = Callable[[Mapping[str, str], str], bool]


class _BodyDropped(Exception):
    """A HEAD's headers and empty body are sent: the rest of a streamed GET answer is not wanted."""


class HeadAndOptions:
    """ASGI middleware: HEAD answered as GET without its body, OPTIONS with the `Allow` of the path in `routes`.

    `routes` is FastAPI's route table (`app.routes`), read when the middleware is built."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], serves: Serves) -> None:
        self.app = app
        self._routes = [
            (context.path_regex, frozenset(context.methods))
            for context in iter_route_contexts(routes)
            if context.methods and getattr(context, "path_regex", None) is not None
        ]
        self._serves = serves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method") if scope["type"] == "http" else None
        if method == "HEAD":
            with suppress(_BodyDropped):
                await self.app({**scope, "method": "GET"}, receive, _headers_only(send))
            return
        if method == "OPTIONS" and not scope.get("root_path") and (allowed := self.allowed(scope["path"])):
            await Response(status_code=200, headers={"Allow": ", ".join(allowed)})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allowed(self, path: str) -> list[str]:
        """The methods served at `path` (HEAD wherever GET is, and OPTIONS); none if no route matches it."""
        methods: set[str] = set()
        for pattern, route_methods in self._routes:
            if (match := pattern.match(path)) is not None:
                methods.update(m for m in route_methods if self._serves(match.groupdict(), m))
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"}) if methods else []


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
