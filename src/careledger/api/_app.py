"""The FHIR R4 REST API of a node (FastAPI): one router per concern, under SIWE auth.

Every request is authenticated (except `/metadata`, `/auth/*`, `$claim`, the exchange, the
OpenAPI docs and the portal's sign-in pages; the portal's pages take a session cookie),
every record is reached through `node.access` (consent for the purpose in
`X-Purpose-Of-Use`, audited), and every failure is an OperationOutcome with the status
`careledger.errors.http_status` gives it (but the EPCIS interface's: RFC 7807 problems, as
EPCIS 2.0 says). The record services are synchronous and most calls run in the server's
thread pool; reads by id, creates and updates, the requests an EHR makes most, use the
services' async paths instead, which hand only the durable commits to a committer thread
(see `_group_commit`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from careledger.api._auth import SiweAuth
from careledger.api._auth_routes import auth_router
from careledger.api._bulk_routes import bulk_router
from careledger.api._bundle_routes import bundle_router
from careledger.api._cds_routes import cds_router
from careledger.api._consent_routes import consent_router
from careledger.api._cors import Cors, Preflights
from careledger.api._deps import Deps
from careledger.api._device_routes import device_router
from careledger.api._docs import add_docs
from careledger.api._epcis_routes import EPCIS_PREFIX, epcis_router, problem
from careledger.api._fast_paths import FastPaths
from careledger.api._fhir_routes import FhirRoutes
from careledger.api._formats import FhirFormats
from careledger.api._health import health_router
from careledger.api._limits import PORTAL_PREFIX, BoundedRequests
from careledger.api._methods import HeadAndOptions
from careledger.api._metrics import Metrics, MetricsPort, metrics_router
from careledger.api._outages import DatabaseOutages
from careledger.api._request_log import RequestLog
from careledger.api._research_routes import research_router
from careledger.api._responses import error_response, fhir_response
from careledger.api._room_routes import room_router
from careledger.api._smart_routes import smart_router
from careledger.api._supply_routes import supply_router
from careledger.api._trial_routes import trial_router
from careledger.api.operations import (
    adjudication_router,
    appointment_router,
    assess_router,
    claim_router,
    communication_router,
    coverage_router,
    erase_router,
    everything_router,
    exchange_router,
    suggest_codes_router,
    verify_router,
    visit_router,
)
from careledger.errors import CareLedgerError, NotFound
from careledger.fhir import operation_outcome
from careledger.portal import add_portal, refusal_page
from careledger.records import MAX_RESOURCE_BYTES
from careledger.services import Services


def create_app(node: Services, auth: SiweAuth, *, max_body: int = MAX_RESOURCE_BYTES) -> FastAPI:
    """The API of `node`; `auth` decides who is signed in."""
    app = FastAPI(
        title="CareLedger FHIR API",
        description="FHIR R4 over encrypted records, consent on chain, Sign-In with Ethereum.",
        version="1",
        docs_url=None,  # served by `add_docs` from the package, not a CDN
        redoc_url=None,
    )
    add_docs(app)
    metrics = Metrics(node, node.leadership)
    app.include_router(health_router(node, node.leadership))  # first: `/{resource_type}` would match them too
    app.include_router(metrics_router(node, metrics))
    add_portal(app, node, auth)  # before the FHIR routes, whose `/{type}/{id}` would match its pages
    _handle_errors(app)
    deps = Deps(node, auth)
    fhir = FhirRoutes(deps)
    # Specific paths before the generic `/{resource_type}/...` ones, which would match them too.
    for router in (
        smart_router(deps),
        bulk_router(deps),
        auth_router(deps),
        claim_router(deps),
        adjudication_router(deps),
        visit_router(deps),  # before `/Appointment/{id}`'s: `$quote` and `$prepare-book` would match them
        appointment_router(deps),
        communication_router(deps),
        coverage_router(deps),
        everything_router(deps),
        assess_router(deps),
        suggest_codes_router(deps),
        verify_router(deps),
        erase_router(deps),
        exchange_router(deps),
        research_router(deps),
        bundle_router(deps),
        consent_router(deps),
        device_router(deps),
        room_router(deps),
        cds_router(deps),
        epcis_router(deps),
        supply_router(deps),
        trial_router(deps),
        fhir.router(),
    ):
        app.include_router(router)
    # What FastAPI would route to a read by id or a create comes straight to its handler (see _fast_paths).
    app.add_middleware(FastPaths, routes=app.routes, fast=fhir.fast_paths(), error=error_response)
    # XML bodies become JSON before any route (fast or not) sees them; answers become XML if asked.
    app.add_middleware(FhirFormats, error=error_response)
    # HEAD is the GET without its body (so in XML too), OPTIONS and every 405 the methods a path takes (_methods).
    app.add_middleware(HeadAndOptions, routes=app.routes, serves=fhir.serves, error=error_response)
    # A CORS preflight is answered here, within the limits below (see _cors).
    app.add_middleware(Preflights, origins=node.clients.origins, error=error_response)
    # Nothing past this runs for a body of the wrong type, size or pace, or a flood.
    app.add_middleware(
        BoundedRequests,
        max_body=max_body,
        open_limiter=node.shared.buckets.limit("open", node.settings.open_requests_per_minute),
        error=error_response,
        path_errors={PORTAL_PREFIX: refusal_page, EPCIS_PREFIX: problem},
        sign_in=deps.caller,  # the supply chain's callers known before their bodies are read
    )
    # A registered app's page may read every answer, refusals and failures included (see _cors).
    app.add_middleware(Cors, origins=node.clients.origins, error=error_response)
    # On the metrics port (`metrics_port`), only /metrics and the probes.
    app.add_middleware(MetricsPort, port=node.settings.metrics_port, not_found=_not_found)
    # A database out of reach, wherever it is met (a rate limit, a token's revocations, a route): 503 (_outages).
    app.add_middleware(DatabaseOutages, error=error_response)
    # Outermost: every request's id, access log line and metrics, refusals included (see _request_log).
    app.add_middleware(RequestLog, routes=app.routes, observe=metrics.observe, error=error_response)
    return app


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await error_response(NotFound("the metrics port serves /metrics, /healthz and /readyz only"))(scope, receive, send)


def _handle_errors(app: FastAPI) -> None:
    """Every failure as an OperationOutcome: ours, a request FastAPI could not parse, a route not found."""

    @app.exception_handler(CareLedgerError)
    async def careledger_error(_request: Request, exc: CareLedgerError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return fhir_response(operation_outcome("invalid", problems), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not-found" if exc.status_code == 404 else "not-supported" if exc.status_code == 405 else "exception"
        return fhir_response(operation_outcome(code, str(exc.detail)), exc.status_code, exc.headers)
