"""What a stranger may send before anything of ours runs: the body's type, size and pace, and how often.

`BoundedRequests` is the outermost layer of the API. It refuses a body that is neither JSON
nor XML (415), reads the body itself in chunks, chunked transfer included, and stops at the
route's limit (413: the rest is never read into memory) or when it arrives too slowly
(408); only then does the route see it, replayed from memory. Under `/epcis/` and `/supply/`
(but for the open EPCIS paths) the caller is signed in first, so a stranger is 401 whatever he
sent, a body of any size or type included; their routes judge the body's type themselves, once
they know the caller may act. Requests to `/auth/*` and `/exchange/*`, `/devices/*`, `/epcis/verification`,
`/epcis/notices`, `/trials/safety-reports` and `$claim`, which anyone may send, are also limited per client address
(429), in buckets every worker of the node counts together (`careledger.shared.Buckets`: one statement a request);
an IPv6 client by its /64, which one host holds whole (as claims are paced).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.access import network_of
from careledger.api._deps import call
from careledger.api._responses import adding_headers
from careledger.erasure import MAX_NOTICE_BYTES
from careledger.errors import CareLedgerError, RequestTimeout, TooLarge, UnsupportedMediaType, ValidationError
from careledger.exchange import MAX_DELIVERY_BYTES
from careledger.insight.notes import MAX_TEXT_BYTES
from careledger.shared import RateLimit

ErrorResponder = Callable[[CareLedgerError], Response]
# Who a request's `Authorization` names (`Deps.caller`): `Unauthenticated` if no one.
SignIn = Callable[[str | None], Any]

# Unauthenticated endpoints take small bodies: a SIWE login, a signed fetch request, a claim, a
# device's signed readings (a frame of ~350 at most: a device with more sends several).
OPEN_PREFIXES = ("/auth/", "/exchange/", "/devices/", "/portal/signin", "/portal/claim")
OPEN_SUFFIXES = ("/$claim",)
# Open paths of their own: CDS Hooks discovery (its hook calls are signed, and refused unsigned at once), and
# another node's signed EPCIS verification request and shipping notice, and a site node's signed safety report (their
# signatures are their authentication).
OPEN_PATHS = frozenset({"/cds-services", "/epcis/verification", "/epcis/notices", "/trials/safety-reports"})
OPEN_BODY_BYTES = 16 * 1024
# A shipping notice: its shipping event and the packing events of its cases (~20,000 packs' EPCs).
SHIPPING_NOTICE_BYTES = 1024 * 1024
# The open paths that take more: a message another node delivers, sealed (an attachment may be inline), a notice.
OPEN_PATH_BYTES = {
    "/exchange/messages": MAX_DELIVERY_BYTES,
    "/exchange/erasure": MAX_NOTICE_BYTES,
    "/epcis/notices": SHIPPING_NOTICE_BYTES,
}
JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
XML_TYPES = frozenset({"application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir"})
# The paths whose caller is signed in before their body is read (the open EPCIS paths aside): the supply chain's
# routes, whose docs promise a stranger 401 whatever he sent. Their bodies are small but for a capture: a scan, a
# lot, a reason.
SIGNED_IN_FIRST = ("/epcis/", "/supply/")
SUPPLY_PREFIX = "/supply/"
SUPPLY_BODY_BYTES = OPEN_BODY_BYTES
# The paths that take one media type of their own: OAuth's endpoints HTML forms, as RFC 6749
# says, and the device endpoint signed binary frames; every other path JSON or XML.
PATH_TYPES = {
    "/auth/authorize": "application/x-www-form-urlencoded",
    "/auth/token": "application/x-www-form-urlencoded",
    "/auth/introspect": "application/x-www-form-urlencoded",
    "/auth/revoke": "application/x-www-form-urlencoded",
    "/devices/readings": "application/octet-stream",
    "/trials/safety-reports": "application/json",  # a signed node-to-node request, not FHIR
}
# The paths whose route checks the media type itself, after the caller: a CDS service (JSON only) answers an
# unsigned request 401 whatever it sent, EPCIS capture takes JSON-LD besides JSON, and the supply routes take
# `application/json` (and say so) from a caller they know may act.
ROUTE_TYPED = ("/cds-services/", "/epcis/", SUPPLY_PREFIX)
# The portal's forms: URL-encoded, small (a signed message, a signed consent, a note), but for the two of a
# chart's "Suggest codes", which carry a pasted note as `$suggest-codes` takes it (64 KiB of UTF-8, each byte at
# most three once percent-encoded), and the form's token and ticks.
PORTAL_PREFIX = "/portal/"
PORTAL_FORM = "application/x-www-form-urlencoded"
PORTAL_NOTE_SUFFIXES = ("/suggest", "/suggest/add")
PORTAL_NOTE_BYTES = 3 * MAX_TEXT_BYTES + 8 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# PostgreSQL's text cannot hold a NUL (a lookup with one fails rather than misses), FHIR's strings may not (below
# U+0020 only tab, CR and LF), and no id, parameter or value of the API is one: refused wherever it comes.
_NUL = "a NUL character (%00, \\u0000) is refused anywhere in a request: no id, parameter or value holds one"
BODY_SECONDS = 30.0  # a body slower than this is a slow-loris, not a client


class BoundedRequests:
    """ASGI middleware: media type, size and pace of bodies, and the rate of unauthenticated requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        open_limiter: RateLimit,
        error: ErrorResponder,
        path_errors: Mapping[str, ErrorResponder] | None = None,
        sign_in: SignIn | None = None,
    ) -> None:
        """`error` answers a refusal; `path_errors`, one of a path under one of its prefixes (a browser on the
        portal is shown a page, an EPCIS client reads the problem+json its standard says); `sign_in`, who a
        request to a path of `SIGNED_IN_FIRST` comes from, judged before its body is read (none: not judged here)."""
        self.app = app
        self._sign_in = sign_in
        self._max_body = max_body
        self._open_limiter = open_limiter
        self._error = error
        self._path_errors = dict(path_errors or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            path = scope["path"]
            is_open = path.startswith(OPEN_PREFIXES) or path.endswith(OPEN_SUFFIXES) or path in OPEN_PATHS
            if is_open:
                client = scope.get("client")
                # Counted in the database: from the thread pool, so a slow PostgreSQL stalls this request, not the loop.
                await call(self._open_limiter.take, network_of(client[0]) if client else "unknown")
            if "\x00" in path or b"%00" in scope.get("query_string", b""):
                raise ValidationError(_NUL)
            if scope["method"] in _BODY_METHODS:
                if self._sign_in is not None and not is_open and path.startswith(SIGNED_IN_FIRST):
                    await call(self._sign_in, _authorization(scope))
                body = await self._body(scope, receive, self._limit(path, is_open), path)
                receive = replay(body, receive)
        except CareLedgerError as exc:
            # A body refused half read: what the client sends next is the rest of it, not a request, so the
            # connection is ended (`Connection: close`) rather than kept alive with bytes unparsed.
            if isinstance(exc, TooLarge | RequestTimeout):
                send = adding_headers(send, (b"connection", b"close"))
            await self._refusal(scope["path"])(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, path: str) -> ErrorResponder:
        """What answers a refusal of a request to `path`."""
        for prefix, refusal in self._path_errors.items():
            if path.startswith(prefix):
                return refusal
        return self._error

    def _limit(self, path: str, is_open: bool) -> int:
        """The most bytes a body sent to `path` may hold."""
        if path.startswith(PORTAL_PREFIX) and path.endswith(PORTAL_NOTE_SUFFIXES) and not is_open:
            return PORTAL_NOTE_BYTES
        if is_open or path.startswith(PORTAL_PREFIX):
            return OPEN_PATH_BYTES.get(path, OPEN_BODY_BYTES)
        return SUPPLY_BODY_BYTES if path.startswith(SUPPLY_PREFIX) else self._max_body

    async def _body(self, scope: Scope, receive: Receive, limit: int, path: str) -> bytes:
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"the body is {int(declared):,} bytes; the limit is {limit:,}")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_SECONDS):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"the body is over the limit of {limit:,} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise RequestTimeout(f"the body did not arrive within {BODY_SECONDS:.0f} s") from None
        wanted = PORTAL_FORM if path.startswith(PORTAL_PREFIX) else PATH_TYPES.get(path)
        if wanted is not None:
            if media_type != wanted:
                raise UnsupportedMediaType(f"{path} takes {wanted}, not {media_type or '(none)'}")
        elif (size or media_type) and media_type not in JSON_TYPES | XML_TYPES and not path.startswith(ROUTE_TYPED):
            raise UnsupportedMediaType(
                f"Content-Type {media_type or '(none)'} is not accepted: send application/fhir+json or +xml"
            )
        body = b"".join(chunks)
        if _holds_nul(body, media_type):
            raise ValidationError(_NUL)
        return body


def _holds_nul(body: bytes, media_type: str) -> bool:
    """Whether a form or JSON body holds a NUL character (a device's binary frames may hold any byte): in a form as
    `%00` or the byte, in JSON as the escape `\\u0000` (a raw one is no JSON; an escaped backslash before `u0000`
    is the text "\\u0000", not a NUL)."""
    if media_type == PORTAL_FORM:
        return b"%00" in body or b"\x00" in body
    if "json" not in media_type:
        return False
    # JSON reads a run of backslashes in pairs from its start (no other escape's second character is one), so with
    # every escaped backslash removed, left to right as `replace` goes, what is left of `\\u0000` is a NUL's escape.
    return b"u0000" in body and b"\\u0000" in body.replace(b"\\\\", b"")


def _authorization(scope: Scope) -> str | None:
    """The request's first `Authorization` header, as FastAPI's header parameter takes it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def replay(body: bytes, server: Receive) -> Receive:
    """A `receive` that hands the route the body already read, then the server's own messages (a disconnect)."""
    sent = False

    async def receive() -> Message:
        """The body once, then whatever the server sends next (a disconnect)."""
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await server()

    return receive
