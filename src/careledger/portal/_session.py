"""Who a browser is, and what its posts must show: this node's origin and its form token.

A signed-in browser holds the API's own short-lived JWT in an HttpOnly, SameSite=Strict cookie
(Secure over TLS), so the portal and the API judge one token the same way; the session itself is a
ticket in the node's database (`careledger.shared`, keyed by the token's hash), so a session begun
at one worker is valid at every other, and signing out at one ends it at all of them at once; the
sign-out revokes the token's `jti` too, so the same token sent as a `Bearer` to the API is refused
at every worker within a second (as an app's revoked token is). Every browser also gets a random
anchor cookie, before any sign-in, and every form carries an HMAC of that anchor and the session
token (the signed double-submit pattern): a post from another site has neither cookie nor token, and
a token lifted from one session is worth nothing in another; its key is derived from the node's
token secret, so every worker checks the same tokens. Before either, a post must come from a page of
this node: its `Origin` (or, if a browser sent none, its `Referer`) must be this node's own, which
no cookie setting, subdomain or leaked token changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from careledger.errors import AccessDenied, CareLedgerError, Unauthenticated
from careledger.identity import Role
from careledger.shared import Tickets

if TYPE_CHECKING:
    from careledger.api import Caller

SESSION_COOKIE = "careledger_session"
BROWSER_COOKIE = "careledger_browser"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 15 * 60  # the API token's own lifetime
_SESSION = "portal-session"


class SignIn(Protocol):
    """What the portal needs of the API's Sign-In with Ethereum."""

    domain: str
    chain_id: int

    def login(self, message_text: str, signature: str) -> tuple[str, Caller]:
        """A token for the signer of a valid SIWE message for this node."""
        ...

    def verify(self, message_text: str, signature: str) -> str:
        """The address that signed a valid SIWE message for this node."""
        ...

    def session_for(self, wallet: str) -> tuple[str, Caller]:
        """A token for a wallet that has just proved itself."""
        ...

    def caller(self, authorization: str | None) -> Caller:
        """The caller a `Bearer` token names."""
        ...

    def derived_key(self, purpose: str) -> bytes:
        """A key for `purpose`, the same at every worker of the node."""
        ...

    def claims(self, token: str) -> dict[str, Any]:
        """The checked claims of a token this node issued."""
        ...


@dataclass(frozen=True, slots=True)
class Visit:
    """One request as the portal sees it: the browser, who is signed in (if anyone), its form token."""

    browser: str
    new_browser: bool
    token: str
    caller: Caller | None
    csrf: str

    @property
    def signed_in(self) -> Caller:
        """The caller; `Unauthenticated` (the sign-in page) if nobody is."""
        if self.caller is None:
            raise Unauthenticated("sign in first")
        return self.caller

    @property
    def is_patient(self) -> bool:
        """Whether a patient is signed in."""
        return self.caller is not None and self.caller.role == Role.PATIENT


def check_origin(request: HTTPConnection, domain: str) -> None:
    """Refuse (`AccessDenied`) a request (or a WebSocket's handshake) whose `Origin`, or `Referer` if it has none,
    is not a page of the node at `domain` (its SIWE domain, `host[:port]`) over http or https; with neither, it is
    refused too: every browser sends one with a post from a page of this node, and with every WebSocket."""
    sent = request.headers.get("origin") or request.headers.get("referer") or ""
    if not _same_origin(sent, domain):
        shown = sent[:80] or "none"
        raise AccessDenied(
            f"this form was not posted from a page of this node (origin {shown}): open the page here and post it again"
        )


def _same_origin(url: str, domain: str) -> bool:
    """Whether `url` is on `domain`: the same host, and the same port once a scheme's default is filled in."""
    theirs, ours = urlsplit(url), urlsplit(f"//{domain}")
    if theirs.scheme not in ("http", "https") or not theirs.hostname or theirs.hostname != ours.hostname:
        return False
    default = 443 if theirs.scheme == "https" else 80
    try:
        return (theirs.port or default) == (ours.port or default)
    except ValueError:  # a port that is not a number
        return False


class Sessions:
    """Session cookies and form tokens of one portal."""

    def __init__(self, auth: SignIn, tickets: Tickets, revoke: Callable[[str, float], None]) -> None:
        """`revoke(jti, expires_at)` revokes a signed-out session's token at every worker."""
        self.auth = auth
        self._tickets = tickets
        self._revoke = revoke
        self._key = auth.derived_key("portal-forms")

    async def visit(self, request: Request) -> Visit:
        """Who sends `request`: the browser's anchor (new if it has none) and its session, if still valid. The
        session is looked up in the database from the server's thread pool: a slow PostgreSQL must not stop the
        event loop, and every other request of this worker with it."""
        browser = request.cookies.get(BROWSER_COOKIE, "")
        new_browser = len(browser) != 43  # token_urlsafe(32)
        if new_browser:
            browser = secrets.token_urlsafe(32)
        token = request.cookies.get(SESSION_COOKIE, "")
        caller = None
        if token:
            try:
                caller = self.auth.caller(f"Bearer {token}")
            except CareLedgerError:
                token = ""
            signed_out = caller is not None and await run_in_threadpool(self._tickets.peek, _SESSION, token) is None
            if signed_out:  # at any worker
                caller, token = None, ""
        return Visit(browser, new_browser, token, caller, self._csrf(browser, token))

    def check(self, request: Request, visit: Visit, form: dict[str, str]) -> None:
        """Refuse a post whose form (or `X-CSRF-Token` header) lacks this browser's token."""
        sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
        if visit.new_browser or not hmac.compare_digest(sent.encode(), visit.csrf.encode()):
            raise AccessDenied("this form's security token is missing or stale: reload the page and try again")

    def keep(self, response: Response, request: Request, visit: Visit, *, token: str | None = None) -> None:
        """Set the browser's anchor if new, and the session cookie if `token` is given ('' ends the session)."""
        secure = request.url.scheme == "https"
        if visit.new_browser:
            response.set_cookie(BROWSER_COOKIE, visit.browser, httponly=True, secure=secure, samesite="strict")
        if token == "":
            if visit.token:
                self._tickets.take(_SESSION, visit.token)
                self._end(visit.token)
            response.delete_cookie(SESSION_COOKIE, httponly=True, secure=secure, samesite="strict")
        elif token is not None:
            self._tickets.put(_SESSION, token, {}, SESSION_SECONDS)
            response.set_cookie(
                SESSION_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, secure=secure, samesite="strict"
            )

    def _end(self, token: str) -> None:
        """Revoke the signed-out session's token, which the API would otherwise take as a `Bearer` until it expires."""
        try:
            claims = self.auth.claims(token)
        except CareLedgerError:  # expired or not ours: nothing left to revoke
            return
        if "jti" in claims:
            self._revoke(str(claims["jti"]), float(claims["exp"]))

    def _csrf(self, browser: str, token: str) -> str:
        return hmac.new(self._key, f"{browser}|{token}".encode(), hashlib.sha256).hexdigest()
