"""`GET /Patient/{id}/$everything`: a patient's compartment, as far as the caller may see it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, call
from careledger.api._responses import fhir_response, searchset
from careledger.errors import NotFound
from careledger.records import SearchQuery


def everything_router(deps: Deps) -> APIRouter:
    """The `$everything` operation on Patient."""
    router = APIRouter(tags=["fhir"])

    @router.get("/Patient/{record_id}/$everything")
    async def everything(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Every record of the patient the caller may see; 404 if it may see none (or there is no such Patient)."""
        accessor = deps.signed_in(authorization, purpose, "*", "read")
        # A Patient's patient_id is its own id: one search finds it and everything about it.
        found = await call(deps.node.access.for_caller(accessor).search, SearchQuery(patient_id=record_id))
        if not found:
            raise NotFound(f"no Patient/{record_id} this caller may see")
        return fhir_response(searchset(request, found))

    return router
