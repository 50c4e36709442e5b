"""Pages: templates, the headers every page carries, forms, and failures as pages.

Every response says `Cache-Control: no-store` (pages hold health data) and carries a
Content-Security-Policy that allows scripts, styles and connections from this server only:
no inline script, no CDN, no frame around the portal. Its referrer policy is `same-origin`:
no other site learns a portal URL, and a browser's posts to the portal name the page's
origin, which every post must (`no-referrer` would make a form post's `Origin` "null").
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import escape

from careledger.consent import Purpose
from careledger.errors import CareLedgerError, DatabaseUnavailable, Unauthenticated, ValidationError, http_status
from careledger.outages import database_outage
from careledger.portal._formats import moment, printed_unit
from careledger.portal._markdown import card_detail, markdown
from careledger.portal._session import Sessions, Visit, check_origin
from careledger.portal._views import describe, interaction

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
MAX_FORM_FIELDS = 40
_PURPOSES = {p.value: p.display for p in Purpose}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_templates = Environment(
    loader=PackageLoader("careledger.portal", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["datetime"] = lambda seconds: datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d")
_templates.globals["describe"] = describe
_templates.globals["interaction"] = interaction
_templates.filters["purpose"] = lambda code: _PURPOSES.get(code, code)
_templates.filters["unit"] = printed_unit
_templates.filters["card_detail"] = card_detail
_templates.filters["markdown"] = markdown


@pass_context
def _moment(context: Context, value: Any, *, clock: bool = True) -> str:
    """A FHIR date or instant as people read it, in the node's time zone, 'today' and 'yesterday' as such."""
    return moment(value, context.get("zone", UTC), context.get("now"), clock=clock)


_templates.filters["moment"] = _moment


class Pages:
    """Renders pages for one portal's sessions, their dates and times in `zone` (the node's setting)."""

    def __init__(self, sessions: Sessions, zone: tzinfo = UTC) -> None:
        self.sessions = sessions
        self.zone = zone

    def render(
        self,
        request: Request,
        visit: Visit,
        template: str,
        *,
        status: int = 200,
        form_targets: tuple[str, ...] = (),
        **context: Any,
    ) -> Response:
        """`template` with `context`, the visit (for the navigation and the form token) and the security headers;
        its forms may lead on to `form_targets` (origins) too, as a chart's launch form leads to an app."""
        html = _templates.get_template(template).render(
            visit=visit, path=request.url.path, zone=self.zone, now=datetime.now(UTC), **context
        )
        response = HTMLResponse(html, status_code=status, headers=page_headers(form_targets))
        self.sessions.keep(response, request, visit)
        return response

    def redirect(self, request: Request, visit: Visit, to: str, *, token: str | None = None) -> Response:
        """A 303 to `to` (after a post), setting or ending the session when `token` is given (its ticket put or
        taken in the database: call it from the thread pool then)."""
        response = RedirectResponse(to, status_code=303, headers=HEADERS)
        self.sessions.keep(response, request, visit, token=token)
        return response

    async def form(self, request: Request, visit: Visit) -> dict[str, str]:
        """The posted form (URL-encoded, bounded by the API's limits), refused without this browser's token."""
        try:
            pairs = parse_qsl((await request.body()).decode(), max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise ValidationError(f"a form of at most {MAX_FORM_FIELDS} UTF-8 fields") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            form[name] = f"{form[name]},{value}" if name in form else value  # checkboxes: one list
        self.sessions.check(request, visit, form)
        return form


def page_headers(form_targets: tuple[str, ...] = ()) -> dict[str, str]:
    """The headers of a page (the portal's, or the API's SMART authorization page) whose forms may lead on to
    `form_targets` (origins) as well as to this node; a new dict, the caller's to add to."""
    targets = " ".join(("form-action 'self'", *form_targets))
    return {**HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY.replace("form-action 'self'", targets)}


def outside_page(template: str, **context: Any) -> str:
    """`template` for a page that is not the portal's but looks like it (the API's SMART authorization page):
    nobody's session, no navigation."""
    return _templates.get_template(template).render(visit=_NOBODY, path="", **context)


_NOBODY = Visit(browser="", new_browser=False, token="", caller=None, csrf="")


def refusal_page(exc: CareLedgerError) -> Response:
    """A portal request refused before any portal route runs (a form over its size, too slow, of another type,
    too many), as a page: the API's outer layers refuse it as they refuse any request, but a browser is shown
    the portal's page of the failure, not the FHIR OperationOutcome an API client reads."""
    status, _ = http_status(exc)
    page = outside_page("error.html", message=exc.public)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def field(form: dict[str, str], name: str, label: str, *, max_chars: int = 200) -> str:
    """A required text field, stripped; `ValidationError` naming it as the page labels it."""
    value = form.get(name, "").strip()
    if not value:
        raise ValidationError(f"{label} is required")
    if len(value) > max_chars:
        raise ValidationError(f"{label} is at most {max_chars} characters")
    return value


def portal_route(pages: Callable[[], Pages]) -> type[APIRoute]:
    """A route class whose failures are pages: sign-in for a missing session, else the error and its status;
    a request that changes anything (any method but GET, HEAD, OPTIONS) must come from a page of this node,
    checked here so that no route can forget it."""

    class PortalRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            """The route's handler, its failures turned into pages."""
            handle = super().get_route_handler()

            async def handler(request: Request) -> Response:
                """The page, or the sign-in page or the failure's."""
                try:
                    if request.method not in _SAFE_METHODS:
                        check_origin(request, pages().sessions.auth.domain)
                    return await handle(request)
                except Unauthenticated as exc:
                    if request.method == "GET":
                        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                        return RedirectResponse(f"/portal/signin?next={target}", status_code=303, headers=HEADERS)
                    return await _failure(pages(), request, exc)
                except CareLedgerError as exc:
                    return await _failure(pages(), request, exc)
                except Exception as exc:
                    unavailable = database_outage(exc)
                    if unavailable is None:
                        raise
                    return _unavailable(pages(), request, unavailable)

            return handler

    return PortalRoute


def _unavailable(pages: Pages, request: Request, exc: DatabaseUnavailable) -> Response:
    """The page of a database out of reach (503, `Retry-After`), made without it: as to a signed-out browser."""
    nobody = Visit(browser="", new_browser=False, token="", caller=None, csrf="")
    response = pages.render(request, nobody, "error.html", status=503, message=exc.public, status_code=503)
    response.headers["Retry-After"] = str(round(exc.retry_after))
    return response


async def _failure(pages: Pages, request: Request, exc: CareLedgerError) -> Response:
    status, _ = http_status(exc)
    if request.headers.get("hx-request") or request.headers.get("accept", "").startswith("application/json"):
        return HTMLResponse(
            f'<p class="error" role="alert">{escape(exc.public)}</p>', status_code=status, headers=HEADERS
        )
    visit = await pages.sessions.visit(request)
    return pages.render(request, visit, "error.html", status=status, message=exc.public, status_code=status)
