"""`/epcis/…`: the node's supply chain through the EPCIS 2.0 REST interface (GS1's OpenAPI binding, `REST Bindings/`).

```
POST /epcis/capture       ─► token (401) ─► JSON or JSON-LD (415) ─► JSON (400) ─► node.supply.capture
                             (schema 400 naming the pointer; staff only, 403) ─► 202, Location: /epcis/capture/{id}
GET  /epcis/capture[/id]  ─► token ─► the capture jobs, or one (404)
GET  /epcis/events        ─► token ─► EventQuery.parse (400 naming a parameter) ─► EPCISQueryDocument, Link rel=next
GET  /epcis/events/{id}   ─► token ─► an EPCISQueryDocument of that one event (404)
POST /epcis/verification  ─► (open: its signature is the caller) ─► node.dispensary.answer_verification, signed
POST /epcis/notices       ─► (open: its signatures and the chain's shipment to this node are the caller)
                             ─► node.supply.accept_notice ─► 202 stored (200: held already)
```

A capture is done before its answer (the job's `success` says how it went; `running` is never true), all or
nothing (`GS1-Capture-Error-Behaviour: rollback`, the only behaviour served). Every answer says the versions
served (`GS1-EPCIS-Version`, `GS1-CBV-Version`), and every refusal is RFC 7807 `application/problem+json` with
the EPCIS exception as its `type` (`epcisException:ValidationException`, …), the outer layers' too (a body
over 4 MiB, 413; another media type, 415). Who may act for the node's supply chain is the supply service's
word (its operator and staff): a route signs the caller in and names her `by`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from careledger.api._deps import Authorization, Deps, body_of, call
from careledger.api._responses import retry_after
from careledger.errors import (
    CareLedgerError,
    DatabaseUnavailable,
    TooMany,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationError,
    http_status,
)
from careledger.fhir import fhir_instant, loads_object
from careledger.records import MAX_RESOURCE_BYTES
from careledger.supplychain import CaptureJob, EventQuery, query_document

EPCIS_PREFIX = "/epcis/"
PROBLEM_JSON = "application/problem+json"
VERSIONS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
CAPTURE_BYTES = MAX_RESOURCE_BYTES  # the API's body limit (`BoundedRequests`): 4 MiB
_CAPTURE_TYPES = frozenset({"application/json", "application/ld+json"})
_ROLLBACK = "rollback"
# What a capture's answer says of this interface (GS1's capture discovery headers), besides the versions.
_CAPTURE_HEADERS = {"GS1-EPCIS-Capture-File-Size-Limit": str(CAPTURE_BYTES), "GS1-Capture-Error-Behaviour": _ROLLBACK}
# The EPCIS 2.0 exception of each refusal's status (GS1's OpenAPI `components/responses`); a server error is an
# ImplementationException, any other status RFC 7807's `about:blank`.
_EXCEPTIONS = {
    400: "ValidationException",
    401: "SecurityException",
    403: "SecurityException",
    404: "NoSuchNameException",
    406: "NotAcceptableException",
    409: "ResourceAlreadyExistsException",
    413: "CaptureLimitExceededException",
    414: "URITooLongException",
    415: "UnsupportedMediaTypeException",
}
CaptureErrorBehaviour = Annotated[
    str | None, Header(alias="GS1-Capture-Error-Behaviour", description="rollback (the only behaviour served)")
]
# The query parameters `GET /epcis/events` serves (EPCIS 2.0 §8.2.7.1), documented here and read by
# `EventQuery.parse` from the query string whole, so one it does not serve is refused by name.
_QUERY_PARAMETERS = {
    "eventType": "ObjectEvent, AggregationEvent, … (several separated by |)",
    "GE_eventTime": "events at or after this time (RFC 3339)",
    "LT_eventTime": "events before this time (RFC 3339)",
    "GE_recordTime": "events recorded here at or after this time (RFC 3339)",
    "LT_recordTime": "events recorded here before this time (RFC 3339)",
    "EQ_bizStep": "CBV business steps (bare words or URIs, several separated by |)",
    "EQ_disposition": "CBV dispositions (bare words or URIs, several separated by |)",
    "MATCH_epc": "EPCs in epcList or childEPCs",
    "MATCH_anyEPC": "EPCs anywhere in the event: epcList, childEPCs, parentID",
    "MATCH_parentID": "the parent (a case's or pallet's SSCC) of an aggregation",
    "EQ_eventID": "event ids",
    "perPage": "events a page (at most 1000, 30 if absent)",
    "nextPageToken": "the next page, as a previous answer's Link header names it",
}


def problem(error: CareLedgerError) -> JSONResponse:
    """`error` as EPCIS 2.0 names it: RFC 7807 problem+json, with the headers its status calls for."""
    status, _ = http_status(error)
    exception = _EXCEPTIONS.get(status, "ImplementationException" if status >= 500 else None)
    body = {
        "type": f"epcisException:{exception}" if exception else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": error.public,
    }
    headers = dict(VERSIONS)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="careledger"'
    elif isinstance(error, TooMany | DatabaseUnavailable):
        headers["Retry-After"] = retry_after(error)
    if status == 413:
        headers["GS1-EPCIS-Capture-File-Size-Limit"] = str(CAPTURE_BYTES)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class EpcisRoute(APIRoute):
    """A route of the EPCIS interface: its refusals as EPCIS problems (the app's handlers answer FHIR's
    OperationOutcome), and every answer naming the EPCIS and CBV versions served."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler of the route, its refusals and answers as EPCIS says."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            """The route's answer, or its refusal as a problem."""
            try:
                response = await handler(request)
            except CareLedgerError as exc:
                return problem(exc)
            except RequestValidationError as exc:
                found = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
                return problem(ValidationError(found))
            response.headers.update(VERSIONS)
            return response

        return answer


def epcis_router(deps: Deps) -> APIRouter:
    """The EPCIS 2.0 capture and query interface of `deps.node.supply`, and the verification other nodes ask."""
    router = APIRouter(tags=["epcis"], route_class=EpcisRoute)
    supply = deps.node.supply

    @router.post("/epcis/capture", status_code=202, openapi_extra=_document_body("an EPCISDocument or one event"))
    async def capture(
        request: Request, authorization: Authorization = None, behaviour: CaptureErrorBehaviour = None
    ) -> JSONResponse:
        """Capture an EPCISDocument (or one event): validated against GS1's schema (400 naming the JSON pointer),
        each event's signature checked (or signed as this node), its chain effects tried, then stored, all or
        nothing; 202 with the job (`Location: /epcis/capture/{id}`), whose `success` says how it went."""
        caller = deps.caller(authorization)
        if (behaviour or _ROLLBACK).strip().lower() != _ROLLBACK:
            raise ValidationError("GS1-Capture-Error-Behaviour: this node captures all or nothing (rollback)")
        document = loads_object(await _json_body(request, _CAPTURE_TYPES), what="an EPCIS document")
        job = await call(supply.capture, document, by=caller.address)
        headers = {"Location": f"/epcis/capture/{job.id}", **_CAPTURE_HEADERS}
        return JSONResponse(job_view(job), status_code=202, headers=headers)

    @router.get("/epcis/capture")
    async def capture_jobs(authorization: Authorization = None) -> JSONResponse:
        """The capture jobs of this node, the newest first."""
        caller = deps.caller(authorization)
        jobs = await call(supply.capture_jobs, by=caller.address)
        return JSONResponse([job_view(job) for job in jobs], headers=_CAPTURE_HEADERS)

    @router.get("/epcis/capture/{capture_id}")
    async def capture_job(capture_id: str, authorization: Authorization = None) -> JSONResponse:
        """One capture job: its state (`success`), its errors, the events it stored; 404 for an id unknown."""
        caller = deps.caller(authorization)
        return JSONResponse(job_view(await call(supply.capture_job, capture_id, by=caller.address)))

    @router.get("/epcis/events", openapi_extra={"parameters": _query_parameters()})
    async def events(request: Request, authorization: Authorization = None) -> JSONResponse:
        """The events that match the query's parameters, a page at a time (`perPage`, at most 1000), as an
        EPCISQueryDocument; `Link: <…>; rel="next"` names the next page while there is one."""
        caller = deps.caller(authorization)
        query = EventQuery.parse(request.query_params.multi_items())
        page = await call(supply.events, query, by=caller.address)
        headers = {}
        if page.next_page_token is not None:
            following = request.url.include_query_params(nextPageToken=page.next_page_token)
            headers["Link"] = f'<{following}>; rel="next"'
        return JSONResponse(query_document(page.events), headers=headers)

    @router.get("/epcis/events/{event_id:path}")
    async def event(event_id: str, authorization: Authorization = None) -> JSONResponse:
        """One event by its `eventID` (URL-encoded), in an EPCISQueryDocument as GS1's binding answers it; 404
        for an id unknown."""
        caller = deps.caller(authorization)
        return JSONResponse(query_document([await call(supply.event, event_id, by=caller.address)]))

    @router.post("/epcis/verification", openapi_extra=_document_body("a verification request, signed"))
    async def verification(request: Request) -> JSONResponse:
        """Another node's DSCSA verification request of a pack this node commissioned, signed by that node (its
        signature is its authentication: 401 if forged, expired or replayed; 400 if malformed or addressed to
        another node); the answer, from this node's own commissioning events, is signed by this node."""
        asked = loads_object(await _json_body(request, frozenset({"application/json"})), what="a verification request")
        return JSONResponse(await call(deps.node.dispensary.answer_verification, asked))

    @router.post("/epcis/notices", openapi_extra=_document_body("a shipping notice: an EPCISDocument, signed"))
    async def notices(request: Request) -> JSONResponse:
        """Another node's shipping notice of a shipment to this node: its shipping event and the packing events of
        the cases it ships, signed (open, like the verification: no token). Stored once (202; 200 when this node
        holds it already) if the chain has that open shipment from its signer to this node, of those items, and
        each pack is inside its case; else 400 (malformed, unsigned, forged, addressed elsewhere), 404 (no such
        shipment) or 409 (the chain says otherwise), each audited without the notice's content."""
        sent = loads_object(await _json_body(request, _CAPTURE_TYPES), what="a shipping notice")
        taken = await call(supply.accept_notice, sent)
        return JSONResponse(taken, status_code=202 if taken["stored"] else 200)

    return router


def job_view(job: CaptureJob) -> dict[str, Any]:
    """A capture job as GS1's binding shows it (`CaptureJob`), with the ids of the events it stored."""
    return {
        "captureID": job.id,
        "createdAt": fhir_instant(job.created),
        "finishedAt": fhir_instant(job.finished),
        "running": False,
        "success": job.state == "success",
        "captureErrorBehaviour": _ROLLBACK,
        "errors": [
            {"type": "epcisException:ValidationException", "title": "Capture failed", "status": 400, "detail": e}
            for e in job.errors
        ],
        "eventIDs": list(job.event_ids),
    }


async def _json_body(request: Request, types: frozenset[str]) -> bytes:
    """The body, if it is of one of `types` (415 otherwise): checked here, once the caller is known."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in types:
        raise UnsupportedMediaType(f"send {' or '.join(sorted(types))}, not {media_type[:60] or '(none)'}")
    return await body_of(request)


def _document_body(what: str) -> dict[str, Any]:
    """The OpenAPI of a route that reads its own JSON body (after the caller is known, so a stranger learns nothing
    of what it should be)."""
    return {"requestBody": {"required": True, "description": what, "content": {"application/json": {"schema": {}}}}}


def _query_parameters() -> list[dict[str, Any]]:
    """The OpenAPI of `GET /epcis/events`'s query parameters."""
    return [
        {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
        for name, text in _QUERY_PARAMETERS.items()
    ]
