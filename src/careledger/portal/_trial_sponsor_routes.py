"""A trial's sponsor (and its ethics board): enrolment by site, the forecast of the day the target is reached as a
chart drawn here, what the escrow paid, holds and still owes, and the serious adverse events reported.

```
/portal/trials/sponsor: the trials she sponsors or approved ─► /portal/trials/sponsor/{id}[?deadline=YYYY-MM-DD]:
   enrolment by site (a table) · the forecast (SVG: enrolled so far, the median and its 90% band to the target;
   with a deadline, how many sites to add) · payments (per site and participant id; paid, held, owed)
   · safety reports (the sponsor's and boards' only: the service refuses anyone else, and the page says so)
```

The numbers are the registry's (`node.trial_registry`): the chain's, the forecast's model, the reports this node
received. A forecast it cannot make yet (nobody enrolled) is said in its words in place of the chart.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.errors import CareLedgerError, ValidationError
from careledger.portal._names import name_of
from careledger.portal._pages import Pages
from careledger.portal._trial_chart import forecast_chart
from careledger.research import care
from careledger.services import Services

if TYPE_CHECKING:
    from careledger.trials import ForecastView, TrialSummary


def trial_sponsor_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The sponsor's trial pages on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    def hers(address: str) -> list[tuple[TrialSummary, str]]:
        """The trials `address` sponsors, or approved a version of as an ethics board, and which of the two."""
        found = []
        for summary in node.trial_registry.all():
            if summary.sponsor.lower() == address.lower():
                found.append((summary, "sponsor"))
            elif any((v.approved_by or "").lower() == address.lower() for v in summary.versions):
                found.append((summary, "ethics board"))
        return found

    @router.get("/portal/trials/sponsor")
    async def sponsored(request: Request) -> Response:
        """The trials the signed-in sponsor (or board) has, with their enrolment and escrow at a glance."""
        visit = await sessions.visit(request)
        trials = await call(hers, visit.signed_in.address)
        return pages.render(request, visit, "trials/sponsor_trials.html", trials=trials, care=care)

    @router.get("/portal/trials/sponsor/{trial_id}")
    async def trial(request: Request, trial_id: int, deadline: str = "") -> Response:
        """Enrolment by site, the forecast chart, payments and serious adverse events of one trial."""
        visit = await sessions.visit(request)
        reader = visit.signed_in.address
        wanted = _deadline(deadline)
        summary = await call(node.trial_registry.show, trial_id)
        enrolment = await call(node.trial_registry.enrolment, trial_id)
        payments = await call(node.trial_registry.payments, trial_id)
        context: dict[str, Any] = {"deadline": deadline[:10]}
        context.update(await call(_forecast, node, summary, wanted))
        try:
            context["reports"] = await call(node.trial_registry.safety_reports, trial_id, reader)
        except CareLedgerError as exc:
            context["reports_refused"] = exc.public
        return pages.render(
            request,
            visit,
            "trials/sponsor.html",
            summary=summary,
            enrolment=enrolment,
            payments=payments,
            name=names,
            care=care,
            **context,
        )


def _forecast(node: Services, summary: TrialSummary, deadline: date | None) -> dict[str, Any]:
    """The forecast's chart and words, with the sites to add by `deadline`; a forecast the model cannot make
    (`unforecast`), or a deadline it cannot answer (`deadline_refused`, the forecast shown without it), in its
    words."""
    registry = node.trial_registry
    context: dict[str, Any] = {}
    try:
        view = registry.forecast(summary.trial_id, deadline=deadline)
    except CareLedgerError as exc:
        if deadline is None:
            return {"unforecast": exc.public}
        context["deadline_refused"] = exc.public
        try:
            view = registry.forecast(summary.trial_id)
        except CareLedgerError as again:
            return {**context, "unforecast": again.public}
    return {**context, **_chart(view, summary)}


def _chart(view: ForecastView, summary: TrialSummary) -> dict[str, Any]:
    """Enrolled so far (from the sites' opening, day by day) and the median with its 90% band to the target, unless
    it is reached."""
    predicted = view.forecast
    opened = min((site.opened for site in view.sites), default=predicted.today)
    dates = None if predicted.reached else (predicted.median, predicted.low, predicted.high)
    return {
        "forecast": view,
        "chart": forecast_chart([(opened, 0), *view.history], summary.target, predicted.today, dates),
        "enrolled": predicted.enrolled,
    }


def _deadline(text: str) -> date | None:
    """The deadline asked for (YYYY-MM-DD), or none."""
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValidationError(f"a deadline is a date, YYYY-MM-DD, not {text[:20]!r}") from None
