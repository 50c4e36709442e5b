"""Session cookies, form tokens and origins, without a server: Secure over TLS, tokens bound to a browser and
session, posts only from this node's pages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import Request, Response

from careledger.api import Caller
from careledger.errors import AccessDenied, Unauthenticated
from careledger.identity import Role
from careledger.portal._session import BROWSER_COOKIE, SESSION_COOKIE, Sessions, Visit, check_origin
from careledger.shared import Tickets
from careledger.store import Database

ALICE = Caller("0x" + "a1" * 20, Role.PATIENT, frozenset({"patient/*.read"}))


class OneToken:
    """A sign-in that knows one token, alice's."""

    domain = "clinic.example"
    chain_id = 1

    def __init__(self, secret: bytes = b"node secret") -> None:
        self.secret = secret

    def derived_key(self, purpose: str) -> bytes:
        return self.secret + purpose.encode()

    def caller(self, authorization: str | None) -> Caller:
        if authorization != "Bearer good":
            raise Unauthenticated("invalid token")
        return ALICE

    def login(self, message_text: str, signature: str) -> tuple[str, Caller]:
        raise NotImplementedError

    def verify(self, message_text: str, signature: str) -> str:
        raise NotImplementedError

    def session_for(self, wallet: str) -> tuple[str, Caller]:
        raise NotImplementedError

    def claims(self, token: str) -> dict[str, Any]:
        self.caller(f"Bearer {token}")
        return {"jti": "good-jti", "exp": 4_000_000_000}


def _forgets(_jti: str, _expires_at: float) -> None:
    """The revocation of a test that is not about it."""


def _request(scheme: str = "http", cookies: dict[str, str] | None = None, csrf: str = "") -> Request:
    cookie = "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())
    headers = [(b"cookie", cookie.encode())] + ([(b"x-csrf-token", csrf.encode())] if csrf else [])
    scope = {"type": "http", "scheme": scheme, "server": ("clinic.example", 443), "method": "POST", "path": "/x"}
    return Request({**scope, "headers": headers})


def _visit(sessions: Sessions, request: Request) -> Visit:
    """`Sessions.visit` as a page's route awaits it."""
    return asyncio.run(sessions.visit(request))


@pytest.fixture
def tickets(database: Database) -> Tickets:
    return Tickets(database)


def test_cookies_are_httponly_strict_and_secure_over_tls(tickets: Tickets) -> None:
    sessions = Sessions(OneToken(), tickets, _forgets)
    for scheme, secure in (("http", False), ("https", True)):
        request = _request(scheme)
        response = Response()
        sessions.keep(response, request, _visit(sessions, request), token="good")
        cookies = response.headers.getlist("set-cookie")
        assert {c.split("=")[0] for c in cookies} == {BROWSER_COOKIE, SESSION_COOKIE}
        for cookie in cookies:
            assert "HttpOnly" in cookie
            assert "SameSite=strict" in cookie
            assert ("Secure" in cookie) == secure


def test_a_form_token_is_bound_to_its_browser_and_session(tickets: Tickets) -> None:
    sessions = Sessions(OneToken(), tickets, _forgets)
    browser = "b" * 43
    sessions.keep(Response(), _request(), _visit(sessions, _request()), token="good")  # she signed in
    signed_in = _visit(sessions, _request(cookies={BROWSER_COOKIE: browser, SESSION_COOKIE: "good"}))
    assert signed_in.caller == ALICE
    sessions.check(_request(csrf=signed_in.csrf), signed_in, {})  # the right token passes
    signed_out = _visit(sessions, _request(cookies={BROWSER_COOKIE: browser, SESSION_COOKIE: "forged"}))
    assert signed_out.caller is None
    assert signed_out.csrf != signed_in.csrf  # a token of the signed-out page is not the session's
    other = _visit(sessions, _request(cookies={BROWSER_COOKIE: "c" * 43, SESSION_COOKIE: "good"}))
    with pytest.raises(AccessDenied, match="security token"):
        sessions.check(_request(), other, {"csrf": signed_in.csrf})
    fresh = _visit(sessions, _request())
    with pytest.raises(AccessDenied):
        sessions.check(_request(), fresh, {"csrf": fresh.csrf})  # no anchor cookie yet: a cross-site post
    another_worker = Sessions(OneToken(), tickets, _forgets)
    mine = _visit(sessions, _request(cookies={BROWSER_COOKIE: browser, SESSION_COOKIE: "good"}))
    assert _visit(another_worker, _request(cookies={BROWSER_COOKIE: browser, SESSION_COOKIE: "good"})).csrf == mine.csrf
    another_node = Sessions(OneToken(b"another node's secret"), tickets, _forgets)
    assert (
        _visit(another_node, _request(cookies={BROWSER_COOKIE: browser})).csrf
        != _visit(sessions, _request(cookies={BROWSER_COOKIE: browser})).csrf
    )  # keyed by the node's secret, which every worker of a node shares and no other node has


def test_a_session_signed_out_at_one_worker_is_over_at_every_worker(tickets: Tickets) -> None:
    revoked: list[tuple[str, float]] = []
    here = Sessions(OneToken(), tickets, _forgets)
    there = Sessions(OneToken(), tickets, lambda jti, expires: revoked.append((jti, expires)))
    cookies = {BROWSER_COOKIE: "b" * 43, SESSION_COOKIE: "good"}
    assert _visit(here, _request(cookies=cookies)).caller is None  # a valid token, but no session was begun
    here.keep(Response(), _request(), _visit(here, _request()), token="good")
    assert _visit(there, _request(cookies=cookies)).caller == ALICE
    there.keep(Response(), _request(), _visit(there, _request(cookies=cookies)), token="")  # signed out there
    assert _visit(here, _request(cookies=cookies)).caller is None
    assert revoked == [("good-jti", 4_000_000_000)]  # and its token is refused as a Bearer too


def _posted(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "scheme": "http", "method": "POST", "path": "/portal/x", "headers": raw})


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://clinic.example:8080"},
        {"Origin": "https://CLINIC.example:8080"},
        {"Referer": "http://clinic.example:8080/portal/consents?x=1"},  # a browser that sent no Origin
    ],
)
def test_a_post_from_a_page_of_this_node_passes(headers: dict[str, str]) -> None:
    check_origin(_posted(headers), "clinic.example:8080")


def test_a_default_port_is_the_same_origin_either_way() -> None:
    check_origin(_posted({"Origin": "https://clinic.example"}), "clinic.example:443")
    check_origin(_posted({"Origin": "https://clinic.example:443"}), "clinic.example")
    check_origin(_posted({"Origin": "http://clinic.example"}), "clinic.example")


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither: not a browser's post from a page
        {"Origin": "null"},  # a sandboxed frame, a data: URL
        {"Origin": "https://evil.example"},
        {"Origin": "http://clinic.example:8081"},
        {"Origin": "http://clinic.example.evil.example:8080"},
        {"Origin": "http://evil.example", "Referer": "http://clinic.example:8080/portal"},  # Origin decides
        {"Referer": "https://evil.example/http://clinic.example:8080/"},
        {"Origin": "ftp://clinic.example:8080"},
        {"Origin": "http://clinic.example:port"},
    ],
)
def test_a_post_from_anywhere_else_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(AccessDenied, match="not posted from a page of this node"):
        check_origin(_posted(headers), "clinic.example:8080")
