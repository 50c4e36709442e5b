"""The hot path: `GET /{type}/{id}` straight to the read handler, past FastAPI's routing.

A read by id is the request an EHR makes most. FastAPI's route matching, dependency
solving and request wrapping took more CPU per read than the read itself (the record's
decryption, the consent check and the audit entry together); this middleware answers such
a request with the same handler the route calls, so behaviour, errors and OpenAPI stay
those of the declared route. Anything else — a query string, a type or id that is not a
plain FHIR one, `Consent`, `_history`, `$operations` — goes on to FastAPI untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.errors import CareLedgerError

# (resource type, id, Authorization, X-Purpose-Of-Use) -> the response, as the route gives it.
ReadHandler = Callable[[str, str, str | None, str | None], Awaitable[Response]]
ErrorResponder = Callable[[CareLedgerError], Response]

_READ = re.compile(r"^/([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
_ROUTED_ELSEWHERE = frozenset({"Consent"})


class FastReads:
    """ASGI middleware serving reads by id with `read`; every other request goes to `app`."""

    def __init__(self, app: ASGIApp, *, read: ReadHandler, error: ErrorResponder) -> None:
        self.app = app
        self._read = read
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _READ.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if match is None or scope["query_string"] or match.group(1) in _ROUTED_ELSEWHERE:
            await self.app(scope, receive, send)
            return
        authorization = purpose = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-purpose-of-use":
                purpose = value.decode("latin-1")
        try:
            response = await self._read(match.group(1), match.group(2), authorization, purpose)
        except CareLedgerError as exc:
            response = self._error(exc)
        await response(scope, receive, send)
