"""`/epcis/…`: the node's supply chain through the EPCIS 2.0 REST interface (GS1's OpenAPI binding, `REST Bindings/`).

```
POST /epcis/capture       ─► token (401) ─► scopes + staff (403, audited) ─► JSON or JSON-LD (415) ─► JSON (400)
                             ─► at most 500 events (413) ─► node.supply.capture (schema 400 naming the pointer)
                             ─► 202, Location: /epcis/capture/{id}
GET  /epcis/capture       ─► token ─► scopes + staff ─► the newest capture jobs (perPage, at most 100)
GET  /epcis/capture/{id}  ─► token ─► scopes + staff ─► one capture job (404)
GET  /epcis/events        ─► token ─► scopes + staff ─► EventQuery.parse (400 naming a parameter)
                             ─► EPCISQueryDocument, Link rel=next
GET  /epcis/events/{id}   ─► token ─► scopes + staff ─► an EPCISQueryDocument of that one event (404)
POST /epcis/verification  ─► (open: its signature is the caller) ─► node.dispensary.answer_verification, signed
POST /epcis/notices       ─► (open: its signatures and the chain's shipment to this node are the caller)
                             ─► node.supply.accept_notice ─► 202 stored (200: held already)
any other method or path  ─► 405 (with Allow) or 404
```

The caller is judged before anything she sent is read, as at `/supply/` (`_supply_routes`: the order, the
scopes). A capture is done before its answer (the job's `success` says how it went; `running` is never true), all
or nothing (`GS1-Capture-Error-Behaviour: rollback`, the only behaviour served), of at most `CAPTURE_LIMIT` events
(`GS1-EPCIS-Capture-Limit`); GS1's schema is checked in the server's thread pool, never on the event loop. Every
answer says the versions served (`GS1-EPCIS-Version`, `GS1-CBV-Version`), and every refusal is RFC 7807
`application/problem+json` with the EPCIS exception as its `type` (`epcisException:ValidationException`, …): the
outer layers' too (a body over 4 MiB, 413; another media type, 415; a stranger, 401), a method or path no route
here takes (405, 404: `unserved`) and a failure (500, logged once by the request log).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from careledger import request_context
from careledger.api._deps import Authorization, Deps, call
from careledger.api._responses import retry_after
from careledger.api._supply_routes import READ, WRITE, acting, json_body, parameters, query_openapi
from careledger.errors import (
    CareLedgerError,
    DatabaseUnavailable,
    MethodNotAllowed,
    NotFound,
    TooLarge,
    TooMany,
    Unauthenticated,
    ValidationError,
    error_for_status,
    http_status,
)
from careledger.fhir import fhir_instant, loads_object
from careledger.records import MAX_RESOURCE_BYTES
from careledger.supplychain import CaptureJob, EventQuery, query_document

EPCIS_PREFIX = "/epcis/"
PROBLEM_JSON = "application/problem+json"
VERSIONS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
CAPTURE_BYTES = MAX_RESOURCE_BYTES  # the API's body limit (`BoundedRequests`): 4 MiB
# The most events one capture takes: GS1's schema costs ~7 ms of CPU an event, so a document of this many is
# checked in a few seconds of a worker thread; an ERP sends more in several documents.
CAPTURE_LIMIT = 500
# The newest capture jobs `GET /epcis/capture` lists (its `perPage` may ask for fewer); one job is asked for by id.
JOBS_LISTED = 100
_CAPTURE_TYPES = frozenset({"application/json", "application/ld+json"})
_ROLLBACK = "rollback"
# What a capture's answer says of this interface (GS1's capture discovery headers), besides the versions; a 413
# says the limits.
_CAPTURE_LIMITS = {
    "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
    "GS1-EPCIS-Capture-File-Size-Limit": str(CAPTURE_BYTES),
}
_CAPTURE_HEADERS = {**_CAPTURE_LIMITS, "GS1-Capture-Error-Behaviour": _ROLLBACK}
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
# What a failure's answer says, as the request log's 500 says it: its cause is in the node's log, under the
# request's id, never in the answer.
_FAILED = "the server failed to answer this request; it is logged with its request id (X-Request-ID)"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
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
        headers.update(_CAPTURE_LIMITS)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class EpcisRoute(APIRoute):
    """A route of the EPCIS interface: its refusals as EPCIS problems (the app's handlers answer FHIR's
    OperationOutcome), and every answer naming the EPCIS and CBV versions served."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler of the route, its refusals and answers as EPCIS says."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            """The route's answer, or its refusal as a problem; a failure, too, once handed to the request log
            (which logs it once, with the route, as it logs any other)."""
            try:
                response = await handler(request)
            except CareLedgerError as exc:
                return problem(exc)
            except RequestValidationError as exc:
                found = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
                return problem(ValidationError(found))
            except StarletteHTTPException as exc:
                return problem(error_for_status(exc.status_code)(str(exc.detail)))
            except Exception as exc:  # any failure: answered as EPCIS says, logged once by the request log
                if not request_context.note_failure(exc):
                    raise
                return problem(CareLedgerError(_FAILED))
            response.headers.update(VERSIONS)
            return response

        return answer


class _EveryMethod(EpcisRoute):
    """A route that takes every method: `unserved`'s, which answers what no other route under `/epcis/` takes.
    Its methods are none (any), as a route of FastAPI's table, so `Allow` and `OPTIONS` (`_methods`) name only
    those of the routes that serve the path, and no fast path (`_fast_paths`) takes a request it would have."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.methods: set[str] = set()


def epcis_router(deps: Deps) -> APIRouter:
    """The EPCIS 2.0 capture and query interface of `deps.node.supply`, the verification and shipping notices other
    nodes send, and the answer to whatever else is asked under `/epcis/`."""
    router = APIRouter(tags=["epcis"], route_class=EpcisRoute)
    _capture_routes(router, deps)
    _query_routes(router, deps)
    _open_routes(router, deps)
    _unserved_route(router)
    return router


def _capture_routes(router: APIRouter, deps: Deps) -> None:
    """Capture, and the capture jobs."""
    supply = deps.node.supply

    @router.post("/epcis/capture", status_code=202, openapi_extra=_document_body("an EPCISDocument or one event"))
    async def capture(
        request: Request, authorization: Authorization = None, behaviour: CaptureErrorBehaviour = None
    ) -> JSONResponse:
        """Capture an EPCISDocument (or one event) of at most 500 events: validated against GS1's schema (400
        naming the JSON pointer), each event's signature checked (or signed as this node), its chain effects
        tried, then stored, all or nothing; 202 with the job (`Location: /epcis/capture/{id}`), whose `success`
        says how it went."""
        caller = await acting(deps, authorization, "supply.capture", WRITE)
        parameters(request)
        if (behaviour or _ROLLBACK).strip().lower() != _ROLLBACK:
            raise ValidationError("GS1-Capture-Error-Behaviour: this node captures all or nothing (rollback)")
        body = await json_body(request, _CAPTURE_TYPES)
        document = await call(loads_object, body, what="an EPCIS document")
        if (count := _events_in(document)) > CAPTURE_LIMIT:
            raise TooLarge(
                f"the document holds {count:,} events; a capture takes at most {CAPTURE_LIMIT}: send several"
            )
        job = await call(supply.capture, document, by=caller.address)
        headers = {"Location": f"/epcis/capture/{job.id}", **_CAPTURE_HEADERS}
        return JSONResponse(job_view(job), status_code=202, headers=headers)

    @router.get("/epcis/capture", openapi_extra=query_openapi({"perPage": f"jobs listed (1 to {JOBS_LISTED})"}))
    async def capture_jobs(request: Request, authorization: Authorization = None) -> JSONResponse:
        """The newest capture jobs of this node, newest first: at most 100 (`perPage` fewer), not paged further;
        one job is asked for by its id."""
        caller = await acting(deps, authorization, "supply.read", READ)
        shown = _per_page(parameters(request, "perPage").get("perPage"))
        jobs = await call(supply.capture_jobs, by=caller.address)
        return JSONResponse([job_view(job) for job in jobs[:shown]], headers=_CAPTURE_HEADERS)

    @router.get("/epcis/capture/{capture_id}")
    async def capture_job(capture_id: str, request: Request, authorization: Authorization = None) -> JSONResponse:
        """One capture job: its state (`success`), its errors, the events it stored; 404 for an id unknown."""
        caller = await acting(deps, authorization, "supply.read", READ)
        parameters(request)
        return JSONResponse(job_view(await call(supply.capture_job, capture_id, by=caller.address)))


def _query_routes(router: APIRouter, deps: Deps) -> None:
    """The events, queried or by id."""
    supply = deps.node.supply

    @router.get("/epcis/events", openapi_extra=query_openapi(_QUERY_PARAMETERS))
    async def events(request: Request, authorization: Authorization = None) -> JSONResponse:
        """The events that match the query's parameters, a page at a time (`perPage`, at most 1000), as an
        EPCISQueryDocument; `Link: <…>; rel="next"` names the next page while there is one."""
        caller = await acting(deps, authorization, "supply.read", READ)
        query = EventQuery.parse(request.query_params.multi_items())
        page = await call(supply.events, query, by=caller.address)
        headers = {}
        if page.next_page_token is not None:
            following = request.url.include_query_params(nextPageToken=page.next_page_token)
            headers["Link"] = f'<{following}>; rel="next"'
        return JSONResponse(query_document(page.events), headers=headers)

    @router.get("/epcis/events/{event_id:path}")
    async def event(event_id: str, request: Request, authorization: Authorization = None) -> JSONResponse:
        """One event by its `eventID` (URL-encoded), in an EPCISQueryDocument as GS1's binding answers it; 404
        for an id unknown."""
        caller = await acting(deps, authorization, "supply.read", READ)
        parameters(request)
        return JSONResponse(query_document([await call(supply.event, event_id, by=caller.address)]))


def _open_routes(router: APIRouter, deps: Deps) -> None:
    """What other nodes send, signed (no token): a verification request, a shipping notice."""

    @router.post("/epcis/verification", openapi_extra=_document_body("a verification request, signed"))
    async def verification(request: Request) -> JSONResponse:
        """Another node's DSCSA verification request of a pack this node commissioned, signed by that node (its
        signature is its authentication: 401 if forged, expired or replayed; 400 if malformed or addressed to
        another node); the answer, from this node's own commissioning events, is signed by this node."""
        parameters(request)
        body = await json_body(request)
        asked = await call(loads_object, body, what="a verification request")
        return JSONResponse(await call(deps.node.dispensary.answer_verification, asked))

    @router.post("/epcis/notices", openapi_extra=_document_body("a shipping notice: an EPCISDocument, signed"))
    async def notices(request: Request) -> JSONResponse:
        """Another node's shipping notice of a shipment to this node: its shipping event and the packing events of
        the cases it ships, signed (open, like the verification: no token). Stored once (202; 200 when this node
        holds it already) if the chain has that open shipment from its signer to this node, of those items, and
        each pack is inside its case; else 400 (malformed, unsigned, forged, addressed elsewhere), 404 (no such
        shipment) or 409 (the chain says otherwise), each audited without the notice's content."""
        parameters(request)
        body = await json_body(request, _CAPTURE_TYPES)
        sent = await call(loads_object, body, what="a shipping notice")
        taken = await call(deps.node.supply.accept_notice, sent)
        return JSONResponse(taken, status_code=202 if taken["stored"] else 200)


def _unserved_route(router: APIRouter) -> None:
    """The last route under `/epcis/`: what none before it takes (`_EveryMethod`)."""
    served = [route for route in router.routes if isinstance(route, APIRoute)]

    async def unserved(request: Request) -> Response:
        """What no route above takes: 405 if a route serves the path with other methods (`Allow` added by
        `_methods`), else 404; problems both, where FastAPI's generic FHIR routes would answer OperationOutcomes."""
        path, method = request.url.path, request.method
        taking = {m for route in served if route.path_regex.match(path) for m in route.methods or ()}
        if taking:  # named as `Allow` names them (`_methods`): HEAD wherever GET, and OPTIONS
            allowed = ", ".join(sorted(taking | {"OPTIONS"} | ({"HEAD"} if "GET" in taking else set())))
            raise MethodNotAllowed(f"{path[:80]} takes {allowed}, not {method[:20]}")
        raise NotFound(f"no EPCIS resource here: {path[:80]} (this node serves /epcis/capture and /epcis/events)")

    router.add_api_route(
        "/epcis/{path:path}",
        unserved,
        methods=list(_METHODS),
        include_in_schema=False,
        operation_id="epcis_unserved",  # FastAPI derives an id from the methods, which this route has none of
        route_class_override=_EveryMethod,
    )


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


def _events_in(document: dict[str, Any]) -> int:
    """How many events a capture's body holds: an EPCISDocument's `eventList`, else one (an event alone)."""
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    return len(events) if isinstance(events, list) else 1


def _per_page(given: str | None) -> int:
    """How many capture jobs to list: `perPage`, 1 to `JOBS_LISTED` (all of those if absent)."""
    if given is None:
        return JOBS_LISTED
    if not given.isdigit() or not 0 < int(given) <= JOBS_LISTED:
        raise ValidationError(f"perPage: a whole number from 1 to {JOBS_LISTED}, not {given[:20]!r}")
    return int(given)


def _document_body(what: str) -> dict[str, Any]:
    """The OpenAPI of a route that reads its own JSON body (after the caller is known, so a stranger learns nothing
    of what it should be)."""
    return {"requestBody": {"required": True, "description": what, "content": {"application/json": {"schema": {}}}}}
