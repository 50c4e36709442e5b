"""A trial site's pages, for the node's care team: the trials it is a site of, their visit list, a patient's
eligibility and her consent taken in person, each visit's CRF entered from its Questionnaire, corrected with a reason,
and its history.

```
/portal/trials/site ─► /portal/trials/site/{id}: every visit here (due / blocked: re-consent / entered / paid)
   ─ a patient's id ─► POST …/eligibility: her criteria in words ─► POST …/enrol (the node signs her consent with
     the custodial key it holds for her; a patient with her own wallet signs in her portal); after an amendment
     that asks for it, POST …/reconsent the same way
   ─► …/patients/{patient}/visits/{n}: the CRF form (the Questionnaire's items as inputs) ─► POST …/crf, or once
     entered, POST …/correct with its reason; the problems the service finds shown beside their fields;
     the CRF's versions (who, when, why); POST …/pay: pay the visit now, or the service's reason why not
```

Whether she may be enrolled or seen, and whether a CRF fits its form, are the site service's answers
(`node.trial_site`, which refuses anyone not on the care team and audits it): the page carries the form there and
shows what comes back.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.errors import CareLedgerError, ValidationError, http_status
from careledger.portal._names import name_of
from careledger.portal._pages import Pages, field
from careledger.portal._session import Visit
from careledger.portal._staff_routes import staff_member, treating
from careledger.portal._trial_crf import COMPLETED, IN_PROGRESS, crf_fields, crf_response, posted_values, values_of
from careledger.records import Resource
from careledger.research import care
from careledger.services import Services

if TYPE_CHECKING:
    from careledger.access import Accessor
    from careledger.trials import TrialSummary

MAX_REASON = 1000
_PATIENT_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PROBLEM_ITEM = re.compile(r"^item '([^']{1,64})'(?: \(.*?\))?: ")
_STEPS = frozenset({"crf", "correct", "pay"})


@dataclass(frozen=True, slots=True)
class _Crf:
    """One visit's CRF page: whose, which visit, its Questionnaire."""

    trial_id: int
    patient_id: str
    visit: int
    form: Resource

    @property
    def path(self) -> str:
        """The page's own path."""
        return f"/portal/trials/site/{self.trial_id}/patients/{self.patient_id}/visits/{self.visit}"


def trial_site_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The site's trial pages on `router`."""
    _visit_list_routes(router, node, pages)
    _crf_routes(router, node, pages)


def _visit_list_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The trials here, their visit lists, eligibility and enrolment."""
    sessions = pages.sessions

    def sited_here() -> list[TrialSummary]:
        """The trials this node is a site of."""
        here = node.address.lower()
        return [t for t in node.trial_registry.all() if any(s.lower() == here for s in t.sites)]

    async def visit_list(
        request: Request, visit: Visit, trial_id: int, *, status: int = 200, **context: Any
    ) -> Response:
        accessor = treating(visit.signed_in)
        rows = await call(node.trial_site.visits, accessor, trial_id)
        summary = await call(node.trial_registry.show, trial_id)
        counts = Counter(row.status for row in rows)
        return pages.render(
            request, visit, "trials/site.html", status=status, summary=summary, rows=rows, counts=counts, **context
        )

    @router.get("/portal/trials/site")
    async def trials_here(request: Request) -> Response:
        """The trials this node is a site of."""
        visit = await sessions.visit(request)
        await staff_member(node, visit)
        return pages.render(request, visit, "trials/site_trials.html", trials=await call(sited_here))

    @router.get("/portal/trials/site/{trial_id}")
    async def trial_visits(request: Request, trial_id: int) -> Response:
        """Every visit of the trial's participants here, with its due date and status."""
        visit = await sessions.visit(request)
        return await visit_list(request, visit, trial_id)

    @router.post("/portal/trials/site/{trial_id}/eligibility")
    async def eligibility(request: Request, trial_id: int) -> Response:
        """Whether the patient meets the trial's criteria, each in words."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        patient_id = _patient_id(form)
        verdict = await call(node.trial_site.eligibility, treating(visit.signed_in), trial_id, patient_id)
        return await visit_list(request, visit, trial_id, checked=patient_id, eligibility=verdict)

    @router.post("/portal/trials/site/{trial_id}/enrol")
    async def enrol(request: Request, trial_id: int) -> Response:
        """Enrol the patient, her consent taken in person and signed by the node with the key it holds for her (the
        staff member its witness), her stipends paid to the address she gives, or held until she names one."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        patient_id = _patient_id(form)
        try:
            payee = form.get("payee", "").strip()[:43] or None
            enrolled = await call(node.trial_site.enrol, treating(visit.signed_in), trial_id, patient_id, payee=payee)
        except CareLedgerError as exc:
            status, _ = http_status(exc)
            return await visit_list(request, visit, trial_id, status=status, checked=patient_id, refused=exc.public)
        return await visit_list(request, visit, trial_id, enrolled=enrolled)

    @router.post("/portal/trials/site/{trial_id}/reconsent")
    async def reconsent(request: Request, trial_id: int) -> Response:
        """Her consent to the trial's current version after an amendment, taken in person (the node signs it with
        the key it holds for her): her visits wait for it."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        patient_id = _patient_id(form)
        try:
            signed = await call(node.trial_site.reconsent, treating(visit.signed_in), trial_id, patient_id)
        except CareLedgerError as exc:
            status, _ = http_status(exc)
            return await visit_list(request, visit, trial_id, status=status, refused=exc.public)
        return await visit_list(request, visit, trial_id, reconsented=signed)


class _CrfDesk:
    """What a CRF's routes share: the visit's Questionnaire, and the page they answer with."""

    def __init__(self, node: Services, pages: Pages) -> None:
        self.node = node
        self.pages = pages

    async def crf(self, trial_id: int, patient_id: str, visit_number: int) -> _Crf:
        """The CRF of the patient's visit: its Questionnaire from the trial's protocol (current version)."""
        if not _PATIENT_ID.fullmatch(patient_id):
            raise ValidationError("a patient's record id is 1 to 64 letters, digits, '-' or '.'")
        from careledger.trials import questionnaire  # trials (numpy, scipy) only when a trial page is asked for

        protocol = await call(self.node.trial_registry.protocol, trial_id)
        return _Crf(trial_id, patient_id, visit_number, questionnaire(protocol, visit_number))

    async def page(
        self,
        request: Request,
        visit: Visit,
        crf: _Crf,
        *,
        status: int = 200,
        values: dict[str, str] | None = None,
        problems: dict[str, list[str]] | None = None,
        **context: Any,
    ) -> Response:
        """The CRF page: its fields (holding `values`, else the latest version's answers), its visit's row on the
        site's list, its history."""
        accessor = treating(visit.signed_in)
        history = await call(_history, self.node, accessor, crf)
        if values is None:
            values = values_of(crf.form, history[-1].response) if history else {}
        rows = await call(self.node.trial_site.visits, accessor, crf.trial_id)
        row = next((r for r in rows if r.patient_id == crf.patient_id and r.visit == crf.visit), None)
        fields = crf_fields(crf.form, values, problems or {})
        return self.pages.render(
            request,
            visit,
            "trials/crf.html",
            status=status,
            crf=crf,
            row=row,
            fields=fields,
            history=history,
            name=partial(name_of, self.node),
            care=care,
            **context,
        )

    async def pay(self, request: Request, visit: Visit, crf: _Crf) -> Response:
        """Pay the visit now from the escrow, or show the service's reason why not."""
        try:
            paid = await call(
                self.node.trial_site.pay, treating(visit.signed_in), crf.trial_id, crf.patient_id, crf.visit
            )
        except CareLedgerError as exc:
            return await self.page(request, visit, crf, status=http_status(exc)[0], error=exc.public)
        return await self.page(request, visit, crf, paid=paid)

    async def store(
        self, request: Request, visit: Visit, crf: _Crf, form: dict[str, str], *, correct: bool
    ) -> Response:
        """Enter the CRF, or correct it with the posted reason; a refusal shown with the answers kept, each of the
        Questionnaire's problems beside its field."""
        values = posted_values(crf.form, form)
        reason = form.get("reason", "").strip()[: MAX_REASON + 1]
        response, unreadable = crf_response(crf.form, values, _status(form))
        kept: dict[str, Any] = {"values": values, "reason": reason}
        if unreadable:
            return await self.page(request, visit, crf, status=400, problems=unreadable, **kept)
        site, accessor = self.node.trial_site, treating(visit.signed_in)
        try:
            if correct:
                entry = await call(
                    site.correct_crf, accessor, crf.trial_id, crf.patient_id, crf.visit, response, reason
                )
            else:
                entry = await call(site.enter_crf, accessor, crf.trial_id, crf.patient_id, crf.visit, response)
        except CareLedgerError as exc:
            by_item, general = _placed_problems(crf.form, response, exc)
            return await self.page(
                request, visit, crf, status=http_status(exc)[0], problems=by_item, error=general, **kept
            )
        return await self.page(request, visit, crf, entry=entry)


def _crf_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """A visit's CRF: the form, its entry, its correction, its history, its payment."""
    desk = _CrfDesk(node, pages)

    @router.get("/portal/trials/site/{trial_id}/patients/{patient_id}/visits/{visit_number}")
    async def crf(request: Request, trial_id: int, patient_id: str, visit_number: int) -> Response:
        """The visit's CRF: the form to enter (or correct) it, and its versions so far."""
        visit = await pages.sessions.visit(request)
        return await desk.page(request, visit, await desk.crf(trial_id, patient_id, visit_number))

    @router.post("/portal/trials/site/{trial_id}/patients/{patient_id}/visits/{visit_number}/{step}")
    async def act(request: Request, trial_id: int, patient_id: str, visit_number: int, step: str) -> Response:
        """Enter the CRF (`crf`), correct it with a reason (`correct`), or pay the visit now (`pay`)."""
        visit = await pages.sessions.visit(request)
        form = await pages.form(request, visit)
        if step not in _STEPS:
            raise ValidationError(f"a CRF is entered (crf), corrected (correct) or paid (pay), not {step[:20]!r}")
        crf = await desk.crf(trial_id, patient_id, visit_number)
        if step == "pay":
            return await desk.pay(request, visit, crf)
        return await desk.store(request, visit, crf, form, correct=step == "correct")


def _history(node: Services, accessor: Accessor, crf: _Crf) -> list[Any]:
    """The CRF's versions, oldest first; none before it is entered."""
    try:
        return list(node.trial_site.crf_history(accessor, crf.trial_id, crf.patient_id, crf.visit))
    except CareLedgerError as exc:
        if http_status(exc)[0] == 404:  # not entered yet (or she is not enrolled: the entry says so)
            return []
        raise


def _placed_problems(form: Resource, response: Resource, refusal: CareLedgerError) -> tuple[dict[str, list[str]], str]:
    """A refusal's problems beside the items they name (the Questionnaire's own check, as the service ran it), and
    what names no item (the refusal itself, when none does: no reason given, she is not randomised, …)."""
    from careledger.trials import crf_problems

    if not isinstance(refusal, ValidationError):
        return {}, refusal.public
    by_item: dict[str, list[str]] = {}
    unplaced = []
    for problem in crf_problems(form, response):
        named = _PROBLEM_ITEM.match(problem)
        if named:
            by_item.setdefault(named.group(1), []).append(problem[named.end() :])
        else:
            unplaced.append(problem)
    return by_item, "; ".join(unplaced) if by_item else refusal.public


def _status(form: dict[str, str]) -> str:
    """The CRF stored done (the form's main button) or saved half entered ("Save it incomplete")."""
    status = form.get("status", COMPLETED)
    if status not in (COMPLETED, IN_PROGRESS):
        raise ValidationError(f"a CRF is stored {COMPLETED} or {IN_PROGRESS}, not {status[:20]!r}")
    return status


def _patient_id(form: dict[str, str]) -> str:
    patient_id = field(form, "patient", "The patient's record id", max_chars=64)
    if not _PATIENT_ID.fullmatch(patient_id):
        raise ValidationError("a patient's record id is 1 to 64 letters, digits, '-' or '.'")
    return patient_id
