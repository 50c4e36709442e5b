"""Signing in with a wallet (the browser's own, or one the page makes), claiming a custodial identity, signing out.

The page signs a Sign-In with Ethereum message for this node with a nonce from
`/auth/nonce`; the portal checks it exactly as `/auth/login` does and keeps the token in the
session cookie. A patient the front desk registered claims her identity here with the
code she was given: her new wallet signs in, and its encryption key (derived in the page
from the wallet's key as the CLI derives it) receives her records.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.access import encryption_key_from_hex
from careledger.identity import Role
from careledger.portal._pages import Pages, field
from careledger.portal._session import SignIn, Visit
from careledger.services import Services

_MAX_MESSAGE = 4096
_STAFF_ROLES = frozenset({Role.PRACTITIONER, Role.ORG, Role.LAB, Role.PHARMACY})


def home_of(visit: Visit) -> str:
    """Where a visitor starts: her records, the staff's patient finder, or the sign-in page."""
    if visit.caller is None:
        return "/portal/signin"
    return "/portal/records" if visit.is_patient else "/portal/staff"


def signin_routes(router: APIRouter, node: Services, auth: SignIn, pages: Pages) -> None:
    """The sign-in, claim and sign-out pages on `router`."""
    sessions = pages.sessions

    @router.get("/portal")
    @router.get("/portal/")
    async def start(request: Request) -> Response:
        """Her records, the staff's patient finder, or the sign-in page."""
        visit = await sessions.visit(request)
        return pages.redirect(request, visit, home_of(visit))

    @router.get("/portal/signin")
    async def signin_page(request: Request, next: str = "") -> Response:
        """Sign in with a wallet: the browser's (EIP-1193) or the one kept in this page."""
        visit = await sessions.visit(request)
        return pages.render(request, visit, "signin.html", next=_local(next), domain=auth.domain, chain=auth.chain_id)

    @router.post("/portal/signin")
    async def signin(request: Request) -> Response:
        """Check the signed SIWE message and start a session."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        token, _ = await call(auth.login, _message(form), field(form, "signature", "The signature"))
        return await call(pages.redirect, request, visit, _local(form.get("next", "")) or "/portal", token=token)

    @router.get("/portal/claim")
    async def claim_page(request: Request, patient: str = "") -> Response:
        """Claim the records the front desk registered, with its code and a wallet made in this page."""
        visit = await sessions.visit(request)
        return pages.render(request, visit, "claim.html", patient=patient[:80], domain=auth.domain, chain=auth.chain_id)

    @router.post("/portal/claim")
    async def claim(request: Request) -> Response:
        """Hand the custodial identity to the wallet that signed, re-seal her records to its key, sign her in;
        refused claims are paced per client address and per code (429)."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        wallet = await call(auth.verify, _message(form), field(form, "signature", "The signature"))
        key = encryption_key_from_hex(field(form, "encryption_key", "The encryption key"))
        patient = field(form, "patient", "The patient number")
        code = field(form, "code", "The claim code", max_chars=40)
        client = request.client.host if request.client else "unknown"
        await call(node.claiming.claim_record, patient, code, wallet, key, client=client)  # unknown: as a wrong code
        token, _ = await call(auth.session_for, wallet)
        return await call(pages.redirect, request, visit, "/portal/records?claimed=1", token=token)

    @router.post("/portal/signout")
    async def signout(request: Request) -> Response:
        """End the session."""
        visit = await sessions.visit(request)
        await pages.form(request, visit)
        return await call(pages.redirect, request, visit, "/portal/signin", token="")  # its session's ticket taken


def _message(form: dict[str, str]) -> str:
    """The signed SIWE message as the wallet signed it: a form sends its line breaks as CRLF."""
    return field(form, "message", "The signed message", max_chars=_MAX_MESSAGE).replace("\r\n", "\n")


def _local(target: str) -> str:
    """`target` if it is a page of this portal (never another site: no open redirect)."""
    return target if target.startswith("/portal") and "//" not in target and "\\" not in target else ""
