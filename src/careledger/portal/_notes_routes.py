"""Suggest codes from a note, on a staff member's chart: paste the text, see the conditions and medications it names
(negated, family and allergy mentions greyed and never offered), tick the ones to keep, add them.

    paste ─► suggestions: present and historical ones ticked, ─► "Add selected" ─► the ticked drafts written
             uncertain ones offered unticked                                        through her own door

Nothing is written before "Add selected", and then only what she ticked, as her own write (judged and audited like
any). The text travels back with the form and is read again, so the page holds no state between the two steps.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.consent import Purpose
from careledger.errors import ValidationError
from careledger.insight.notes import MAX_TEXT_BYTES, as_drafts, suggest
from careledger.portal._pages import Pages
from careledger.portal._staff_routes import chart_patient, staff_member, treating
from careledger.portal._views import person_name
from careledger.records import Draft
from careledger.services import Services


def notes_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """`/portal/staff/patients/{id}/suggest`: the form, its suggestions, and adding the ticked ones."""
    sessions = pages.sessions

    @router.get("/portal/staff/patients/{record_id}/suggest")
    async def suggest_form(request: Request, record_id: str, purpose: str = "") -> Response:
        """The form to paste a note into."""
        return await _page(request, record_id, purpose, None)

    @router.post("/portal/staff/patients/{record_id}/suggest")
    async def suggestions(request: Request, record_id: str, purpose: str = "") -> Response:
        """The conditions and medications the pasted note names, the ones to keep ticked; nothing written."""
        return await _page(request, record_id, purpose, await pages.form(request, await sessions.visit(request)))

    async def _page(request: Request, record_id: str, purpose: str, form: dict[str, str] | None) -> Response:
        visit = await sessions.visit(request)
        reader = treating(await staff_member(node, visit), purpose)
        person = await chart_patient(node.access.for_caller(reader), record_id)
        text = None if form is None else _text(form)
        found = None if text is None else await call(suggest, text, patient=record_id)
        return pages.render(
            request,
            visit,
            "suggest.html",
            record_id=record_id,
            name=person_name(person) or "(no name)",
            emergency=reader.purpose == Purpose.ETREAT,
            text=text,
            found=found,
            limit=MAX_TEXT_BYTES,
        )

    @router.post("/portal/staff/patients/{record_id}/suggest/add")
    async def add_selected(request: Request, record_id: str, purpose: str = "") -> Response:
        """Write the drafts of the ticked suggestions (and nothing else) as the staff member, then show the chart."""
        visit = await sessions.visit(request)
        reader = treating(await staff_member(node, visit), purpose)
        form = await pages.form(request, visit)
        door = node.access.for_caller(reader)
        await chart_patient(door, record_id)
        ticked = set(form.get("keep", "").split(","))
        found = await call(suggest, _text(form), patient=record_id)
        drafts = as_drafts(s for s in found.suggestions if s.draft_key in ticked)
        if drafts:
            await call(door.store, [Draft.of(draft, None) for draft in drafts.values()])
        back = "?purpose=ETREAT" if reader.purpose == Purpose.ETREAT else ""
        return pages.redirect(request, visit, f"/portal/staff/patients/{record_id}{back}")

    def _text(form: dict[str, str]) -> str:
        """The pasted note; one over `MAX_TEXT_BYTES` is `suggest`'s to refuse (413, as `$suggest-codes` does)."""
        text = form.get("note", "").strip()
        if not text:
            raise ValidationError("The note is required")
        return text
