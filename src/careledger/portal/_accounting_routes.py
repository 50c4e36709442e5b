"""A patient's accounting of disclosures: this node's, and, at her signed request, every other node's.

Other nodes answer only a request she signed (her wallet, in this page), naming this node
as the one that gathers; they seal their answers to this node's key. See
`careledger.exchange` (the accounting across nodes).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.access import may_submit_as
from careledger.exchange import AccountingRequest, SignedAccounting
from careledger.portal._names import name_of
from careledger.portal._pages import HEADERS, Pages
from careledger.portal._patient_routes import as_herself, patient
from careledger.portal._signing import for_javascript, signature_of, signed_typed
from careledger.services import Services

ACCOUNTING_PAGE = 100


def accounting_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The accounting of disclosures on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    async def _page(request: Request, page: int, **elsewhere: Any) -> Response:
        visit = await sessions.visit(request)
        caller = patient(visit)
        page = max(1, page)
        entries = await call(
            node.disclosures.of,
            as_herself(caller),
            caller.address,
            limit=ACCOUNTING_PAGE + 1,
            offset=(page - 1) * ACCOUNTING_PAGE,
        )
        more = len(entries) > ACCOUNTING_PAGE
        # Her break-glass windows and the staff's verdict on each, above the first page.
        emergencies = await call(node.disclosures.emergencies, as_herself(caller), caller.address) if page == 1 else []
        context: dict[str, Any] = {
            "entries": entries[:ACCOUNTING_PAGE],
            "more": more,
            "page": page,
            "name": names,
            "emergencies": emergencies,
            **elsewhere,
        }
        return pages.render(request, visit, "accounting.html", **context)

    @router.get("/portal/accounting")
    async def accounting(request: Request, page: int = 1) -> Response:
        """Who saw (or was refused) her records on this node, when, why: newest first."""
        return await _page(request, page)

    @router.post("/portal/accounting/prepare")
    async def prepare(request: Request) -> Response:
        """The typed data of her request to every other node for its accounting, for her wallet to sign."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        await pages.form(request, visit)
        return JSONResponse(for_javascript(node.accounting_desk.prepare(caller.address)), headers=HEADERS)

    @router.post("/portal/accounting/elsewhere")
    async def elsewhere(request: Request) -> Response:
        """This node's accounting, and every other node's, gathered under the request she signed."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        signed = SignedAccounting(AccountingRequest.from_typed_data(signed_typed(form)), signature_of(form))
        may_submit_as(caller.address, signed.request.patient, "an accounting request").require()
        gathered = await call(node.accounting_desk.gather, signed)
        return await _page(request, 1, elsewhere=gathered)
