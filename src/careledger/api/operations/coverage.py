"""`/Coverage` and `POST /CoverageEligibilityRequest/$submit`: a member's plan on chain, as FHIR views.

Neither is a record: the claims service builds each from the chain when asked, for the patients the caller's
door lets it see (`Repository.members`: the patient, who may read her billing records, her care team, her
plan's insurer for HPAYMT; audited). Like Consent, Coverage is read and searched, never written here.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._fhir_routes import Prefer
from careledger.api._responses import fhir_response, preferences
from careledger.api._search_results import Paging
from careledger.errors import ValidationError
from careledger.fhir import VIEW_SEARCH_PARAMETERS, loads_object

_PATIENT = re.compile(r"(?:Patient/)?([A-Za-z0-9\-.]{1,64})")
_PATIENT_PARAMETERS = VIEW_SEARCH_PARAMETERS["Coverage"]  # both name the member, as Patient references
_MISSING = tuple(f"{name}:missing" for name in _PATIENT_PARAMETERS)
_KNOWN = (*_PATIENT_PARAMETERS, *_MISSING, "_count", "_offset", "_format", "_pretty")


def coverage_router(deps: Deps) -> APIRouter:
    """Coverage read and search, and the eligibility operation."""
    router = APIRouter(tags=["claims"])
    node = deps.node

    @router.get("/Coverage/{coverage_id}")
    async def read_coverage(
        coverage_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A member's Coverage (`<Patient id>-plan-<plan id>`); 404 alike for an unknown id and one the caller
        may not see."""
        accessor = deps.signed_in(authorization, purpose, "Coverage", "read")
        reader = node.access.for_caller(accessor)
        return fhir_response(await call(node.claims.coverage.read, reader, coverage_id))

    @router.get("/Coverage")
    async def search_coverage(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None, prefer: Prefer = None
    ) -> JSONResponse:
        """The Coverages the caller may see of the patients `patient` or `beneficiary` name (`Patient/<id>`, or
        several comma-separated; every patient here if neither), paged by `_count` and `_offset`. Another
        parameter is ignored and left out of the links, or refused under `Prefer: handling=strict`, as a
        search's is."""
        accessor = deps.signed_in(authorization, purpose, "Coverage", "read")
        params = request.query_params.multi_items()
        unknown = sorted({name for name, _ in params if name not in _KNOWN})
        if unknown and preferences(prefer).get("handling") == "strict":
            raise ValidationError(f"unknown search parameters: {', '.join(unknown)}")
        paging = Paging.of(request.query_params)
        reader = node.access.for_caller(accessor)
        wanted = _patients_named(params)
        found, total = await call(node.claims.coverage.search, reader, wanted, offset=paging.offset, count=paging.count)
        used = [(name, value) for name, value in params if name not in unknown]
        return fhir_response(paging.bundle(request, f"{request.base_url}Coverage", used, found, total))

    @router.post("/CoverageEligibilityRequest/$submit")
    async def submit_eligibility(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The plan's CoverageEligibilityResponse to a CoverageEligibilityRequest (the body), computed from the
        chain; 400 for a malformed request, 404 alike for an unknown patient and one the caller may not see."""
        accessor = deps.signed_in(authorization, purpose, "Coverage", "read")
        asked = loads_object(await body_of(request))
        reader = node.access.for_caller(accessor)
        return fhir_response(await call(node.claims.coverage.eligibility, reader, asked))

    return router


def _patients_named(params: list[tuple[str, str]]) -> list[str] | None:
    """The Patient ids every `patient` and `beneficiary` parameter names (each `Patient/<id>` or `<id>`,
    comma-separated: any of them), all of them at once; None if there is none. Every Coverage has its
    beneficiary, so `:missing=true` names no one and `:missing=false` narrows nothing."""
    named: set[str] | None = None
    for name, value in params:
        if name in _PATIENT_PARAMETERS:
            ids = {_patient_id(name, part) for part in value.split(",")}
        elif name in _MISSING:
            if value not in ("true", "false"):
                raise ValidationError(f"{name} must be true or false, not {value[:20]!r}")
            if value == "false":
                continue
            ids = set()
        else:
            continue
        named = ids if named is None else named & ids
    return None if named is None else sorted(named)


def _patient_id(name: str, part: str) -> str:
    matched = _PATIENT.fullmatch(part.strip())
    if matched is None:
        raise ValidationError(f"{name}: not a Patient reference: {part[:80]!r}")
    return matched.group(1)
