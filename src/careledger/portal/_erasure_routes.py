"""A patient's "Erase my records": she picks one record or all, reads what would be erased and what cannot be
(and why), confirms, signs the request with her wallet, and follows the nodes that fetched copies as they answer.

```
/portal/erase ─pick─► /portal/erase?record=Type/id|all: the preview (erased, kept by which rule, nodes asked,
   what cannot be recalled) and a form: a box she ticks to confirm ─► /portal/erase/prepare: the EIP-712 request
   her wallet signs (the browser's own, or the one kept in the page) ─► /portal/erase: the erasure service
   checks her signature and erases ─303─► /portal/erasures: each erasure, and each node's answer
```

What may be erased, and whether she signed, is the erasure service's (`node.erasure`); the page only reads her
choice. The preview is of the patient signed in: a record of another patient's is "no record" here, as an id
that names nothing. The wallet signs the request's scope by its hash, so the node has the page post the request
itself back beside the signature, as the API's `$erase` takes it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.access import may_submit_as
from careledger.erasure import Plan, SignedErasure
from careledger.errors import UnknownRecord, ValidationError
from careledger.portal._names import name_of
from careledger.portal._pages import HEADERS, Pages, field
from careledger.portal._patient_routes import as_herself, patient
from careledger.portal._signing import for_javascript
from careledger.portal._views import line
from careledger.records import SearchQuery
from careledger.services import Services

if TYPE_CHECKING:
    from careledger.api import Caller

ALL = "all"
CONFIRMED = "yes"
PICKABLE = 200  # records listed to pick from, newest first (an older one: erase all, or from the API or CLI)
_REFERENCE = re.compile(r"(?P<type>[A-Z][A-Za-z]{0,63})/(?P<id>[A-Za-z0-9\-.]{1,64})")
_NEWEST = (("_lastUpdated", True),)


def erasure_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The patient's erasure pages on `router`."""
    sessions = pages.sessions

    def preview(caller: Caller, records: list[str] | None) -> Plan:
        """What erasing `records` (None: all of hers) would do; an id naming nothing of hers is "no record"."""
        plan = node.erasure.preview(as_herself(caller), caller.address, records)
        if plan.unknown:
            raise UnknownRecord(plan.unknown[0])
        return plan

    @router.get("/portal/erase")
    async def erase_page(request: Request, record: str = "") -> Response:
        """Her records to pick from (one, or all of them); once picked, what erasing it would erase and keep (and
        why), the nodes asked to erase their copies, and the form she confirms and signs."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        if not record:
            query = SearchQuery(patient_address=caller.address, sort=_NEWEST)
            found = await call(node.access.for_caller(as_herself(caller)).search, query)
            picks = [line(r) for r in found[:PICKABLE]]
            return pages.render(request, visit, "erase.html", picks=picks, more=len(found) > PICKABLE, plan=None)
        plan = await call(preview, caller, _records(record))
        return pages.render(request, visit, "erase.html", plan=plan, record=record, name=lambda a: name_of(node, a))

    @router.post("/portal/erase/prepare")
    async def prepare(request: Request) -> Response:
        """The erasure request her wallet signs, once she ticked the box that confirms it; with the request itself,
        for the page to post back beside the signature."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        if form.get("confirm") != CONFIRMED:
            raise ValidationError("erasure cannot be undone: tick the box that says you understand, then sign")
        records = _records(field(form, "record", "What to erase", max_chars=140))
        await call(preview, caller, records)
        erasure = node.erasure.request(caller.address, records)
        typed = await call(node.erasure.typed_data, erasure)
        return JSONResponse(
            {**for_javascript(typed), "echo": {"request": json.dumps(erasure.to_json())}}, headers=HEADERS
        )

    @router.post("/portal/erase")
    async def erase(request: Request) -> Response:
        """Carry out the request she signed (her signature is her confirmation); her erasures' page after it."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        form = await pages.form(request, visit)
        try:
            asked = json.loads(field(form, "request", "The signed request", max_chars=8192))
        except json.JSONDecodeError:
            raise ValidationError("the signed request is not JSON") from None
        signed = SignedErasure.from_json({"request": asked, "signature": field(form, "signature", "The signature")})
        may_submit_as(caller.address, signed.request.patient, "an erasure request").require()
        done = await call(node.erasure.erase, signed)
        return pages.redirect(request, visit, f"/portal/erasures#{done.request_id}")

    @router.get("/portal/erasures")
    async def erasures(request: Request) -> Response:
        """Her erasures here, newest first: what each erased and kept (by which rule), and whether each node that
        fetched copies has answered."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        found = await call(node.erasure.status, caller.address)
        return pages.render(request, visit, "erasures.html", erasures=found, name=lambda a: name_of(node, a))


def _records(picked: str) -> list[str] | None:
    """The record ids a pick names: None for all of hers, else the one `Type/id` picked."""
    if picked == ALL:
        return None
    found = _REFERENCE.fullmatch(picked)
    if found is None:
        raise ValidationError("pick one record (Type/id) or all of them")
    return [found["id"]]
