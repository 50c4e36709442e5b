"""Claims over FHIR, as payers' APIs take them: `POST /Claim` and `POST /Claim/$submit`.

A provider's system sends a FHIR Claim (coded items with their `net` amounts, the
Encounter they bill); the node checks the caller bills as this node (itself or its care
team, who may read the Encounter: `Repository.billable`, audited), and the claims service
submits it to the Claims contract, which adjudicates it at once. `$submit` answers with the
ClaimResponse, `POST /Claim` with the Claim as stored (201); both are searchable
(`ClaimResponse?request=Claim/<id>`), and the patient's ExplanationOfBenefit is written
beside them. A pended claim's ClaimResponse is brought up to date by the server's
background loop when the insurer decides.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response, resource_response
from careledger.claims import ClaimOutcome
from careledger.errors import ValidationError
from careledger.fhir import loads_object
from careledger.records import Resource, parse_resource


def adjudication_router(deps: Deps) -> APIRouter:
    """The routes that take a provider's FHIR Claim."""
    router = APIRouter(tags=["claims"])
    node = deps.node

    async def adjudicate(request: Request, authorization: str | None, purpose: str | None) -> ClaimOutcome:
        """Check the body and the caller, then submit the Claim (a `Parameters` may carry it as `resource`)."""
        accessor = deps.signed_in(authorization, purpose, "Claim", "write")
        body = loads_object(await body_of(request))
        if body.get("resourceType") == "Parameters":
            body = next((p.get("resource") for p in body.get("parameter", []) if p.get("name") == "resource"), {})
        claim = parse_resource(body)
        if claim["resourceType"] != "Claim":
            raise ValidationError(f"the body is a {claim['resourceType']}, not a Claim")
        return await call(node.claims.submit_fhir, node.access.for_caller(accessor), claim)

    async def stored(authorization: str | None, purpose: str | None, record_id: str | None) -> Resource:
        """A record the adjudication wrote, read back through the guarded door as the caller."""
        accessor = deps.signed_in(authorization, purpose, "Claim", "read")
        return await node.access.for_caller(accessor).read_async(record_id or "")

    @router.post("/Claim/$submit")
    async def submit(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Adjudicate a Claim now: 200 and its ClaimResponse (paid, pended or denied, with the reason)."""
        outcome = await adjudicate(request, authorization, purpose)
        return resource_response(await stored(authorization, purpose, outcome.response_id))

    @router.post("/Claim", status_code=201)
    async def create(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A Claim is a request to be paid: adjudicated as it is created; 201 with the Claim as stored."""
        outcome = await adjudicate(request, authorization, purpose)
        claim = await stored(authorization, purpose, outcome.record_id)
        version = claim.get("meta", {}).get("versionId", "1")
        headers = {"Location": f"{request.base_url}Claim/{claim['id']}/_history/{version}", "ETag": f'W/"{version}"'}
        return fhir_response(claim, 201, headers)

    return router
