"""A patient's consents, and what she keeps from the care team.

She grants and revokes by signing EIP-712 typed data in the page, with whichever wallet
she signed in with; the node submits it and pays the gas. The typed data comes from the
node (`prepare`), the page only signs it, and the node checks what comes back against the
patient signed in: nobody submits a consent for someone else through her session.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.access import may_submit_as
from careledger.config import NODE_WALLET
from careledger.consent import Grant, Purpose, SignedConsent, parse_categories, parse_purposes
from careledger.errors import ValidationError
from careledger.portal._names import name_of
from careledger.portal._pages import HEADERS, Pages, field
from careledger.portal._patient_routes import patient
from careledger.portal._signing import for_javascript, signature_of, signed_typed
from careledger.records import Category
from careledger.services import Services

_GRANTABLE = [p for p in Purpose if p is not Purpose.ETREAT]  # break-glass is not consented to
_MAX_DAYS = 3650


def consent_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The consent and accounting pages on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    @router.get("/portal/consents")
    async def consents(request: Request) -> Response:
        """Her grants, a form to grant another, what she keeps from this node's care team, and her break-glass
        switch."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        grants = await call(node.consent.grants, patient=caller.address)
        organizations = await call(node.identity.organizations)
        restricted = [c.value for c in Category if node.consent.care_team_restricted(caller.address, node.address, c)]
        break_glass = await call(node.break_glass_switch.allowed, caller.address)
        return pages.render(
            request,
            visit,
            "consents.html",
            grants=sorted(grants, key=lambda g: g.not_before, reverse=True),
            name=names,
            organizations=[(o.address, names(o.address), o.role.label) for o in organizations],
            categories=list(Category),
            purposes=_GRANTABLE,
            restricted=restricted,
            break_glass=break_glass,
        )

    @router.post("/portal/consents/prepare")
    async def prepare(request: Request) -> Response:
        """The typed data of the consent the form describes, for her wallet to sign."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        days = _days(field(form, "days", "How many days"))
        terms = node.consent.terms(
            caller.address,
            field(form, "grantee", "Who may see them"),
            parse_categories(field(form, "categories", "At least one category", max_chars=400)),
            parse_purposes(field(form, "purposes", "At least one purpose")),
            days=days,
        )
        return JSONResponse(for_javascript(await call(node.consent.prepare, terms, valid_for_days=1)), headers=HEADERS)

    @router.post("/portal/consents")
    async def grant(request: Request) -> Response:
        """Submit the consent she signed; the node pays the gas."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        signed = SignedConsent.from_typed_data(signed_typed(form), signature_of(form))
        may_submit_as(caller.address, signed.terms.patient, "a consent").require()
        await call(node.consent.submit, NODE_WALLET, signed)
        return pages.redirect(request, visit, "/portal/consents")

    @router.post("/portal/consents/{grant_id}/prepare-revoke")
    async def prepare_revoke(request: Request, grant_id: str) -> Response:
        """The typed data of revoking one of her grants, for her wallet to sign."""
        visit = await sessions.visit(request)
        await pages.form(request, visit)
        grant = await call(_her_grant, node, patient(visit).address, grant_id)
        return JSONResponse(
            for_javascript(await call(node.consent_actions.prepare_revocation, grant.grant_id)), headers=HEADERS
        )

    @router.post("/portal/consents/{grant_id}/revoke")
    async def revoke(request: Request, grant_id: str) -> Response:
        """Submit the revocation she signed; the node pays the gas."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        grant = await call(_her_grant, node, patient(visit).address, grant_id)
        typed = signed_typed(form)
        if str(typed.get("message", {}).get("grantId")) != str(grant.grant_id):
            raise ValidationError("the signed revocation names another consent than this one")
        caller = patient(visit)
        submit = node.consent_actions.submit
        await call(submit, NODE_WALLET, typed, signature_of(form), kind="Revocation", patient=caller.address)
        return pages.redirect(request, visit, "/portal/consents")


def care_team_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """Keeping this node's care team from some of her records, on `router`."""
    sessions = pages.sessions

    @router.post("/portal/care-team/prepare")
    async def prepare_restriction(request: Request) -> Response:
        """The typed data of the care team restriction the form describes (no category lifts it), to sign."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        categories = parse_categories(form["categories"]) if form.get("categories") else []
        prepare = node.consent_actions.prepare_restriction
        typed = await call(prepare, caller.address, node.address, categories)
        return JSONResponse(for_javascript(typed), headers=HEADERS)

    @router.post("/portal/care-team")
    async def restrict(request: Request) -> Response:
        """Submit the restriction she signed; the node pays the gas."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        typed = signed_typed(form)
        if str(typed.get("message", {}).get("custodian", "")).lower() != node.address.lower():
            raise ValidationError("a care team restriction submitted here is about this node's care team")
        submit = node.consent_actions.submit
        await call(submit, NODE_WALLET, typed, signature_of(form), kind="CareTeamRestriction", patient=caller.address)
        return pages.redirect(request, visit, "/portal/consents")


def _her_grant(node: Services, patient_address: str, grant_id: str) -> Grant:
    try:
        grant = node.consent.get(int(grant_id, 16))
    except ValueError:
        raise ValidationError(f"{grant_id!r} is not a consent id") from None
    may_submit_as(patient_address, grant.patient, "a revocation").require()
    return grant


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise ValidationError("how many days is a number") from None
    if not 0 < days <= _MAX_DAYS:
        raise ValidationError(f"a consent lasts between a day and {_MAX_DAYS} days")
    return days
