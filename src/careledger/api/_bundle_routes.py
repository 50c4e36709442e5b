"""`POST /`: a `transaction` Bundle (all or nothing) or a `batch` (each entry on its own).

Each entry goes through the guarded repository under the same rules as the single request
it stands for: a bundle is a route too, not a way around the door.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.access import Accessor
from careledger.api._auth import Caller
from careledger.api._bundles import EntryRunner, run_batch, transaction_drafts, transaction_response
from careledger.api._conditional import the_match
from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call, draft, own_only
from careledger.api._fhir_routes import served
from careledger.api._responses import fhir_response, history_bundle, location, status_of, stored_body, typed
from careledger.api._search_results import search_bundle
from careledger.errors import ValidationError
from careledger.fhir import READ_ONLY_TYPES, loads_object
from careledger.records import Resource, parse_resource


def bundle_router(deps: Deps) -> APIRouter:
    """The route that takes transaction and batch Bundles."""
    router = APIRouter(tags=["fhir"])

    @router.post("/")
    async def bundle(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A `transaction` (all or nothing) or `batch` Bundle; its response Bundle."""
        caller = deps.caller(authorization)
        body = await body_of(request)
        data = loads_object(body)
        if data.get("resourceType") != "Bundle" or data.get("type") not in ("transaction", "batch"):
            raise ValidationError("POST / takes a Bundle of type transaction or batch")
        accessor = deps.accessor(caller, purpose)
        if data["type"] == "batch":  # each entry is validated, and fails, on its own
            return fhir_response(await run_batch(data, _batch_runner(deps, caller, accessor, request)))
        entries = transaction_drafts(parse_resource(body))  # all or nothing: the whole Bundle validates first
        for _, resource in entries:
            caller.require(resource["resourceType"], "write")
            if resource["resourceType"] == "Appointment":  # its slots and fee are the visits' (`Visits.written`)
                raise ValidationError(
                    "an Appointment is written in a request of its own (or a batch), not a transaction"
                )
        return fhir_response(await call(_transaction, deps, caller, accessor, entries))

    return router


def _transaction(deps: Deps, caller: Caller, accessor: Accessor, entries: list[tuple[str, Resource]]) -> Resource:
    """Store a transaction's resources all or none; the transaction-response Bundle."""
    stored = deps.node.access.for_caller(accessor).store([draft(caller, resource) for _, resource in entries])
    results = []
    for (_, resource), version in zip(entries, stored, strict=True):
        results.append((status_of(version), stored_body(resource, version), location(version)))
    return transaction_response(results)


def _batch_runner(deps: Deps, caller: Caller, accessor: Accessor, request: Request) -> EntryRunner:
    """How a batch runs one entry: as its single request would run, through the same door."""
    access = deps.node.access

    async def run(
        method: str, url: str, resource: Resource | None, if_none_exist: str | None
    ) -> tuple[int, Resource | None, str | None]:
        """One entry, as its single request would run."""
        path, _, query = url.partition("?")
        parts = path.split("/")
        if method == "GET" and parts[0] in READ_ONLY_TYPES:
            # Consents and coverage are the chain's, read by routes of their own, not records.
            raise ValidationError(f"GET {url}: {parts[0]} is read at /{parts[0]}, in a request of its own")
        if method == "GET" and len(parts) == 1:  # a search: GET Type?params
            served(parts[0])
            caller.require(parts[0], "read")
            entry = _entry_request(request, path, query)
            return 200, await search_bundle(entry, parts[0], access, accessor, caller, None), None
        if method == "GET" and len(parts) == 3 and parts[2] == "_history":  # an instance's history
            served(parts[0])
            caller.require(parts[0], "read")
            versions = await call(access.for_caller(accessor).history, parts[1], parts[0])
            return 200, history_bundle(_entry_request(request, path, query), versions), None
        return await call(run_single, method, url, resource, if_none_exist)

    def run_single(
        method: str, url: str, resource: Resource | None, if_none_exist: str | None
    ) -> tuple[int, Resource | None, str | None]:
        """A read, delete, create or update entry (blocking: run in the thread pool)."""
        parts = url.partition("?")[0].split("/")
        if method == "GET" and len(parts) == 2:
            caller.require(parts[0], "read")
            return 200, typed(access.for_caller(accessor).read(parts[1]), parts[0], found=True), None
        if method == "DELETE" and len(parts) == 2:
            caller.require(parts[0], "write")
            access.for_caller(accessor).delete(parts[1], parts[0])
            return 204, None, None
        if method in ("POST", "PUT") and resource is not None:
            data = typed(parse_resource(resource), parts[0])
            caller.require(parts[0], "write")
            if method == "POST":
                data.pop("id", None)
                if if_none_exist is not None:
                    owner = own_only(caller, parts[0])
                    existing = the_match(access, accessor, parts[0], if_none_exist, patient_address=owner)
                    if existing is not None:
                        version = existing.get("meta", {}).get("versionId", "1")
                        return 200, existing, f"{parts[0]}/{existing['id']}/_history/{version}"
            elif len(parts) != 2 or data.get("id") != parts[1]:
                raise ValidationError(f"PUT {url} does not name the resource it carries")
            stored = access.for_caller(accessor).write(draft(caller, data))
            return status_of(stored), stored_body(data, stored), location(stored)
        raise ValidationError(f"cannot run {method} {url} in a batch")

    return run


def _entry_request(request: Request, path: str, query: str) -> Request:
    """The single GET an entry stands for: the Bundle's request at the entry's path and query, so the
    answer's links and full URLs are the ones that request would get."""
    scope = {
        **request.scope,
        "method": "GET",
        "path": f"/{path}",
        "raw_path": f"/{path}".encode(),
        "query_string": query.encode(),
    }
    return Request(scope)
