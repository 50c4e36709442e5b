"""A patient's research studies: which she joined, what this node released to each and when, what she earned.

She joins by signing two EIP-712 messages in the page, the research consent and the
participation, and leaves by signing one; the node prepares them, her wallet signs, the
node checks both are hers and submits them, paying the gas (docs/research.md).
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.errors import NotFound
from careledger.portal._names import name_of
from careledger.portal._pages import HEADERS, Pages
from careledger.portal._patient_routes import patient
from careledger.portal._signing import for_javascript, signed_parts
from careledger.research import care, enrolment_view, study_view
from careledger.services import Services

_STEPS = {"join": True, "leave": False}


def study_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The studies page and joining and leaving on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    @router.get("/portal/studies")
    async def studies(request: Request) -> Response:
        """The studies she joined (releases, rewards), and the approved studies she may join."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        every_study = await call(node.studies.all)
        enrolments = await call(node.studies.mine, caller.address, every_study)
        held = await call(node.studies.held, caller.address)
        taking_part = {e.study.study_id for e in enrolments if not e.left_at}
        open_studies = [s for s in every_study if s.approved_by and s.study_id not in taking_part]
        return pages.render(
            request,
            visit,
            "studies.html",
            mine=[(enrolment_view(e), e) for e in enrolments],
            open_studies=[study_view(s) for s in open_studies],
            held=care(held) if held else None,
            name=names,
        )

    @router.post("/portal/studies/{study_id}/prepare-{step}")
    async def prepare(request: Request, study_id: int, step: str) -> Response:
        """What her wallet signs to join (the research consent and the participation) or to leave."""
        visit = await sessions.visit(request)
        await pages.form(request, visit)
        prepared = await call(node.studies.prepare, study_id, patient(visit).address, join=_join(step))
        return JSONResponse(for_javascript(prepared), headers=HEADERS)

    @router.post("/portal/studies/{study_id}/{step}")
    async def submit(request: Request, study_id: int, step: str) -> Response:
        """Submit what she signed; the node pays the gas."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        names_signed = ("participation", "consent") if _join(step) else ("participation",)
        signed, signatures = signed_parts(form, names_signed)
        await call(node.studies.submit_signed, patient(visit).address, study_id, signed, signatures)
        return pages.redirect(request, visit, "/portal/studies")


def _join(step: str) -> bool:
    if step not in _STEPS:
        raise NotFound(f"a study is joined or left, not {step[:40]!r}")
    return _STEPS[step]
