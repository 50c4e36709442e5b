"""The hot paths: `GET /{type}/{id}` and `POST /{type}` straight to their handlers, past FastAPI's routing.

A read by id is the request an EHR makes most, and a create the one a device or an import
makes most. FastAPI's route matching, dependency solving and request wrapping took more
CPU per read than the read itself (the record's decryption, the consent check and the
audit entry together), and about a tenth of a create's; this middleware answers such a
request with the same handler the route calls, so behaviour, errors and OpenAPI stay those
of the declared route. Anything else (a query string, a type or id that is not a plain
FHIR one, `Consent` reads, `_history`, `$operations`) goes on to FastAPI untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.errors import CareLedgerError

# (resource type, id, Authorization, X-Purpose-Of-Use) -> the response, as the route gives it.
ReadHandler = Callable[[str, str, str | None, str | None], Awaitable[Response]]
# (resource type, the request, Authorization, X-Purpose-Of-Use) -> the response, likewise.
CreateHandler = Callable[[str, Request, str | None, str | None], Awaitable[Response]]
ErrorResponder = Callable[[CareLedgerError], Response]

_READ = re.compile(r"^/([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
_CREATE = re.compile(r"^/([A-Z][A-Za-z]{1,63})$")
_READ_ROUTED_ELSEWHERE = frozenset({"Consent"})


class FastPaths:
    """ASGI middleware serving reads by id with `read` and creates with `create`; every other request goes to `app`."""

    def __init__(self, app: ASGIApp, *, read: ReadHandler, create: CreateHandler, error: ErrorResponder) -> None:
        self.app = app
        self._read = read
        self._create = create
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method") if scope["type"] == "http" and not scope["query_string"] else None
        read = _READ.match(scope["path"]) if method == "GET" else None
        create = _CREATE.match(scope["path"]) if method == "POST" else None
        if read is not None and read.group(1) in _READ_ROUTED_ELSEWHERE:
            read = None
        if read is None and create is None:
            await self.app(scope, receive, send)
            return
        authorization = purpose = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-purpose-of-use":
                purpose = value.decode("latin-1")
        try:
            if read is not None:
                response = await self._read(read.group(1), read.group(2), authorization, purpose)
            else:
                assert create is not None
                response = await self._create(create.group(1), Request(scope, receive), authorization, purpose)
        except CareLedgerError as exc:
            response = self._error(exc)
        await response(scope, receive, send)
