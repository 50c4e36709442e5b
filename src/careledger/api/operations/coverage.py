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
from careledger.api._responses import fhir_response, searchset
from careledger.errors import ValidationError
from careledger.fhir import loads_object

_PATIENT = re.compile(r"(?:Patient/)?([A-Za-z0-9\-.]{1,64})")


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
        request: Request, patient: str | None = None, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The Coverages of `patient` (`Patient/<id>`, or several comma-separated; every patient here if absent)
        that the caller may see."""
        accessor = deps.signed_in(authorization, purpose, "Coverage", "read")
        reader = node.access.for_caller(accessor)
        found = await call(node.claims.coverage.search, reader, None if patient is None else _patient_ids(patient))
        return fhir_response(searchset(request, found))

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


def _patient_ids(value: str) -> list[str]:
    """The Patient ids a `patient` search parameter names (`Patient/<id>` or `<id>`, comma-separated)."""
    ids = []
    for part in value.split(","):
        matched = _PATIENT.fullmatch(part.strip())
        if matched is None:
            raise ValidationError(f"patient: not a Patient reference: {part!r}")
        ids.append(matched.group(1))
    return ids
