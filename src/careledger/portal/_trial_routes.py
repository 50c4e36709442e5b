"""A patient's clinical trials: those she is in (schedule, visits, stipends), those open here and whether she may
join (eligibility in words), the consent document she reads and signs, and withdrawal.

```
/portal/trials ─► /portal/trials/{id}: the consent document (its version and hash), her eligibility, a payee
   ─"Sign and join" (or "Sign the new version")─► POST …/prepare-consent: the EIP-712 typed data the node keeps
   ─her wallet signs in the page─► POST …/sign: enrolled (or re-consented) by this node, her site, on chain
/portal/trials/{id}/withdraw: what happens to her data ─ticks, "Sign and withdraw"─► …/prepare-withdraw ─► …/withdraw
/portal/trials: no payee named ─an address─► POST …/payee: the stipends held for her paid to it
```

The node prepares what her wallet signs and submits it, paying the gas; who may consent, to which version, and
what a withdrawal does are the service's answers (`node.trial_participant`): the page shows them, and its refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.errors import CareLedgerError, NotFound, ValidationError
from careledger.portal._pages import HEADERS, Pages, field
from careledger.portal._patient_routes import as_herself, patient
from careledger.portal._signing import for_javascript, signature_of
from careledger.research import care
from careledger.services import Services

if TYPE_CHECKING:
    from careledger.api import Caller
    from careledger.trials import Eligibility, ParticipantTrial, TrialSummary

MAX_PAYEE = 42


def trial_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """A patient's trials, consent, payee and withdrawal on `router`."""
    _consent_routes(router, node, pages)
    _withdrawal_routes(router, node, pages)

    @router.post("/portal/trials/{trial_id}/payee")
    async def payee(request: Request, trial_id: int) -> Response:
        """Name the address her stipends go to: what the escrow held for her is paid to it at once."""
        visit = await pages.sessions.visit(request)
        form = await pages.form(request, visit)
        address = field(form, "payee", "The address for your stipends", max_chars=MAX_PAYEE)
        await call(node.trial_participant.name_payee, as_herself(patient(visit)), trial_id, address)
        return pages.redirect(request, visit, f"/portal/trials#trial-{trial_id}")


def _open_here(
    node: Services, caller: Caller, taking_part: set[int]
) -> list[tuple[TrialSummary, Eligibility | None, str]]:
    """The approved trials this node is a site of that she is not in, each with her eligibility (or why it cannot
    be told)."""
    found: list[tuple[TrialSummary, Eligibility | None, str]] = []
    for summary in node.trial_registry.all():
        here = any(site.lower() == node.address.lower() for site in summary.sites)
        if not (summary.approved and here) or summary.trial_id in taking_part:
            continue
        try:
            found.append((summary, node.trial_participant.eligibility(as_herself(caller), summary.trial_id), ""))
        except CareLedgerError as exc:
            found.append((summary, None, exc.public))
    return found


def _consent_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """Her trials, a trial's consent document, and signing it."""
    sessions = pages.sessions

    @router.get("/portal/trials")
    async def trials(request: Request) -> Response:
        """The trials she is in, with her schedule and stipends, and the trials open here she may join."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        mine = await call(node.trial_participant.trials, as_herself(caller))
        open_trials = await call(_open_here, node, caller, {t.trial_id for t in mine})
        return pages.render(request, visit, "trials/participant.html", mine=mine, open_trials=open_trials, care=care)

    @router.get("/portal/trials/{trial_id}")
    async def consent_page(request: Request, trial_id: int) -> Response:
        """The consent document of the trial's current version, whether she may sign it, and what she signs."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        document = await call(node.trial_participant.consent_document, as_herself(caller), trial_id)
        mine = next(
            (t for t in await call(node.trial_participant.trials, as_herself(caller)) if t.trial_id == trial_id), None
        )
        eligibility = (
            None if mine is not None else await call(node.trial_participant.eligibility, as_herself(caller), trial_id)
        )
        return pages.render(
            request,
            visit,
            "trials/consent.html",
            document=document,
            mine=mine,
            eligibility=eligibility,
            payee=caller.address,
            care=care,
        )

    @router.post("/portal/trials/{trial_id}/prepare-consent")
    async def prepare_consent(request: Request, trial_id: int) -> Response:
        """What her wallet signs to consent to the current version, her stipends paid to the payee she names."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        caller = patient(visit)
        payee = form.get("payee", "").strip()[: MAX_PAYEE + 1] or None
        typed = await call(node.trial_participant.consent_typed_data, as_herself(caller), trial_id, payee)
        return JSONResponse(for_javascript(typed), headers=HEADERS)

    @router.post("/portal/trials/{trial_id}/sign")
    async def sign(request: Request, trial_id: int) -> Response:
        """Her signature of the consent: she is enrolled, or re-consented; the node sends it and pays the gas."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        signature = "0x" + signature_of(form).hex()
        await call(node.trial_participant.sign, as_herself(patient(visit)), trial_id, signature)
        return pages.redirect(request, visit, f"/portal/trials#trial-{trial_id}")


def _withdrawal_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """What happens to her data, and withdrawing."""
    sessions = pages.sessions

    @router.get("/portal/trials/{trial_id}/withdraw")
    async def withdraw_page(request: Request, trial_id: int) -> Response:
        """What happens to her data if she withdraws, said before she confirms."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        mine = _taking_part(await call(node.trial_participant.trials, as_herself(caller)), trial_id)
        document = await call(node.trial_participant.consent_document, as_herself(caller), trial_id)
        return pages.render(request, visit, "trials/withdraw.html", mine=mine, document=document, care=care)

    @router.post("/portal/trials/{trial_id}/prepare-withdraw")
    async def prepare_withdraw(request: Request, trial_id: int) -> Response:
        """What her wallet signs to withdraw, once she ticked that she read what happens to her data."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        if form.get("understood") != "yes":
            raise ValidationError("tick the box that says you read what happens to your data, then sign")
        typed = await call(node.trial_participant.withdrawal_typed_data, as_herself(patient(visit)), trial_id)
        return JSONResponse(for_javascript(typed), headers=HEADERS)

    @router.post("/portal/trials/{trial_id}/withdraw")
    async def withdraw(request: Request, trial_id: int) -> Response:
        """Her signed withdrawal: the node sends it; her remaining visits are no longer owed."""
        visit = await sessions.visit(request)
        form = await pages.form(request, visit)
        signature = "0x" + signature_of(form).hex()
        await call(node.trial_participant.withdraw, as_herself(patient(visit)), trial_id, signature)
        return pages.redirect(request, visit, f"/portal/trials#trial-{trial_id}")


def _taking_part(mine: list[ParticipantTrial], trial_id: int) -> ParticipantTrial:
    """Her part in trial `trial_id`; `NotFound` if she is not in it."""
    found = next((t for t in mine if t.trial_id == trial_id), None)
    if found is None:
        raise NotFound(f"you are not taking part in trial {trial_id} here")
    return found
