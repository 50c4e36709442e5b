"""A patient's switch for break-glass on her records, and the staff's review of each break-glass use.

The switch is the chain's (ConsentRegistry's `set_emergency_access`), so it holds at every node from the next
block. The node prepares the transaction, naming the patient signed in and nobody else; her browser's wallet
sends it and pays its gas, and the chain refuses it from any wallet that does not act for her. (Unlike a
consent, the contract has no variant of it signed off chain for the node to submit: a wallet kept only in the
page, which holds no gas, cannot turn it yet; `careledger access break-glass` can, where her wallet is kept.)

Reviewers are this node and its privacy officers (`BreakGlassReviews.may_review`): they see the uses not
reviewed yet, with their reasons, and record a verdict on each, once. The patient sees each use on her records,
and the verdict, where she sees who saw them (`/portal/accounting`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.access import MAX_NOTE
from careledger.errors import ValidationError
from careledger.portal._names import name_of
from careledger.portal._pages import HEADERS, Pages, field
from careledger.portal._patient_routes import patient
from careledger.services import Services

RECENT_REVIEWS = timedelta(days=30)
_SWITCH = {"on": True, "off": False}


def break_glass_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The patient's switch and the reviewers' queue on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    @router.post("/portal/break-glass/prepare")
    async def prepare(request: Request) -> Response:
        """The transaction that turns break-glass on her records off (or back on), for her own wallet to send."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        allowed = _switch(field(form, "break_glass", "On or off"))
        transaction = await call(node.break_glass_switch.transaction, caller.address, allowed)
        return JSONResponse(transaction, headers=HEADERS)

    @router.get("/portal/break-glass/reviews")
    async def queue(request: Request) -> Response:
        """The break-glass uses awaiting a verdict, each with a form, and the verdicts of the last 30 days."""
        visit = await sessions.visit(request)
        reviewers = node.break_glass_reviews
        await call(reviewers.require_reviewer, visit.signed_in.address)
        now = datetime.now(UTC)
        pending = await call(reviewers.pending)
        recorded = await call(reviewers.reviews, now - RECENT_REVIEWS, now + timedelta(seconds=1))
        return pages.render(
            request,
            visit,
            "break_glass_reviews.html",
            pending=pending,
            recorded=sorted(recorded, key=lambda r: r.reviewed_at, reverse=True),
            name=names,
            max_note=MAX_NOTE,
        )

    @router.post("/portal/break-glass/reviews/{entry}")
    async def review(request: Request, entry: str) -> Response:
        """Record the signed-in reviewer's verdict on one use (refused for her own, and for a use already judged)."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        verdict = field(form, "verdict", "The verdict", max_chars=20)
        note = field(form, "note", "The note", max_chars=MAX_NOTE)
        await call(node.break_glass_reviews.review, entry[:40], visit.signed_in.address, verdict, note)
        return pages.redirect(request, visit, "/portal/break-glass/reviews")


def _switch(word: str) -> bool:
    try:
        return _SWITCH[word.lower()]
    except KeyError:
        raise ValidationError("break-glass is turned on or off") from None
