"""A patient's pages: her records as a timeline, one record, her trends, her claims, and a download of it all.

Every record comes through the guarded repository (`node.access`) as the patient herself,
exactly as her FHIR client would get it: the same decision, the same audit entry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.access import Accessor, Repository
from careledger.consent import Purpose
from careledger.errors import AccessDenied, UnknownRecord
from careledger.portal._names import name_of
from careledger.portal._pages import HEADERS, Pages
from careledger.portal._session import Visit
from careledger.portal._views import fields, line, series, title
from careledger.records import Category, Resource, SearchQuery
from careledger.services import Services

if TYPE_CHECKING:
    from careledger.api import Caller

PAGE_LINES = 100
_NEWEST = (("_lastUpdated", True),)
_CHARTED = frozenset({Category.VITALS.value, Category.LABS.value})


def patient(visit: Visit) -> Caller:
    """The signed-in patient; staff and others are sent to their own pages."""
    caller = visit.signed_in
    if not visit.is_patient:
        raise AccessDenied("these pages are a patient's own: staff use /portal/staff")
    return caller


def as_herself(caller: Caller) -> Accessor:
    """The patient reading her own records (patient requested), narrowed as her token is."""
    return Accessor(caller.address, Purpose.PATRQT, narrowing=caller.narrowing())


def own_patient_id(door: Repository) -> str:
    """The id of the door's patient's own Patient record here (she writes and books as it); `UnknownRecord` if
    this node holds none."""
    found = door.search(SearchQuery(resource_type="Patient", patient_address=door.accessor.address))
    if not found:
        raise UnknownRecord("your Patient record: this node holds no record of yours yet")
    return str(found[0]["id"])


def patient_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The patient's record pages on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    def _own_records(caller: Caller, resource_type: str | None = None) -> list[Resource]:
        query = SearchQuery(resource_type=resource_type, patient_address=caller.address, sort=_NEWEST)
        return node.access.for_caller(as_herself(caller)).search(query)

    @router.get("/portal/records")
    async def timeline(request: Request, category: str = "", page: int = 1, claimed: int = 0) -> Response:
        """Her records newest first, by category, with any break-glass access among them."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        lines = sorted((line(r) for r in await call(_own_records, caller)), key=lambda x: x.when, reverse=True)
        counts: dict[str, int] = {}
        for item in lines:
            counts[item.category] = counts.get(item.category, 0) + 1
        shown = [item for item in lines if not category or item.category == category]
        page = max(1, page)
        emergencies = await call(node.disclosures.emergencies, as_herself(caller), caller.address)
        context: dict[str, Any] = {
            "lines": shown[(page - 1) * PAGE_LINES : page * PAGE_LINES],
            "more": len(shown) > page * PAGE_LINES,
            "page": page,
            "category": category,
            "counts": sorted(counts.items()),
            "emergencies": emergencies,
            "claimed": bool(claimed),
            "name": names,
        }
        template = "_timeline.html" if request.headers.get("hx-request") else "timeline.html"
        return pages.render(request, visit, template, **context)

    @router.get("/portal/records/{record_id}")
    async def record(request: Request, record_id: str) -> Response:
        """One record, its elements in words."""
        visit = await sessions.visit(request)
        resource = await call(node.access.for_caller(as_herself(patient(visit))).read, record_id)
        return pages.render(
            request, visit, "record.html", title=title(resource), line=line(resource), fields=fields(resource)
        )

    @router.get("/portal/trends")
    async def trends(request: Request) -> Response:
        """Her vital signs and lab results over time, one chart per measure."""
        visit = await sessions.visit(request)
        observations = await call(_own_records, patient(visit), "Observation")
        charted = [o for o in observations if line(o).category in _CHARTED]
        return pages.render(request, visit, "trends.html", series=series(charted))

    @router.get("/portal/claims")
    async def claims(request: Request) -> Response:
        """Her explanations of benefit, and how far she is to her deductible and out-of-pocket maximum."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        explanations = await call(_own_records, caller, "ExplanationOfBenefit")
        standing = await call(node.plans.standing, caller.address)
        return pages.render(request, visit, "claims.html", explanations=explanations, standing=standing)

    @router.get("/portal/download")
    async def download(request: Request) -> Response:
        """Every record of hers this node holds, as one FHIR Bundle."""
        visit = await sessions.visit(request)
        records = await call(_own_records, patient(visit))
        base = str(request.base_url)
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "entry": [{"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r} for r in records],
        }
        headers = {**HEADERS, "Content-Disposition": 'attachment; filename="my-health-records.json"'}
        return Response(json.dumps(bundle, indent=1), media_type="application/fhir+json", headers=headers)
