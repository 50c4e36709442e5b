"""`GET /{type}/{id}/$verify` (and `/_history/{vid}/$verify`): a record's proof and the node's verdict on it.

The answer is a `Parameters`: `verdict` (anchored, pending, tampered or erased, as `record verify` finds
it against the chain), `detail`, the `record` itself when it can still be opened, and its `proof` as
parts (docs/proofs.md). `careledger verify` checks the same answer with no node. Asked through the
caller's door: a record she may not read is answered as an unknown id is (404), and the ask is audited
as her read of it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, call
from careledger.api._fhir_routes import served
from careledger.api._responses import fhir_response
from careledger.errors import NotFound
from careledger.proofs import Verified


def verified_parameters(verified: Verified) -> dict[str, Any]:
    """The `Parameters` a `$verify` answers: verdict, detail, the record (if it opens) and its proof."""
    parameters: list[dict[str, Any]] = [
        {"name": "verdict", "valueCode": verified.verdict},
        {"name": "detail", "valueString": verified.detail},
    ]
    if verified.resource is not None:
        parameters.append({"name": "record", "resource": verified.resource})
    parameters.append({"name": "proof", "part": verified.proof.parts()})
    return {"resourceType": "Parameters", "parameter": parameters}


def verify_router(deps: Deps) -> APIRouter:
    """The `$verify` operation on any record, current or of a version."""
    router = APIRouter(tags=["fhir"])

    async def answer(
        resource_type: str, record_id: str, version: int | None, authorization: str | None, purpose: str | None
    ) -> JSONResponse:
        """The verdict and proof of a version the caller may read, of the type the URL names (else 404)."""
        served(resource_type)
        accessor = deps.signed_in(authorization, purpose, resource_type, "read")
        verified = await call(deps.node.proofs.verify, accessor, record_id, version)
        if verified.stored.resource_type != resource_type:
            raise NotFound(f"no {resource_type} with this id (it is a {verified.stored.resource_type})")
        return fhir_response(verified_parameters(verified))

    @router.get("/{resource_type}/{record_id}/$verify")
    async def verify_current(
        resource_type: str, record_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """The node's verdict on a record's current version, with its proof (and the record, if it opens)."""
        return await answer(resource_type, record_id, None, authorization, purpose)

    @router.get("/{resource_type}/{record_id}/_history/{version}/$verify")
    async def verify_version(
        resource_type: str,
        record_id: str,
        version: Annotated[int, Path(ge=1, le=2**31 - 1)],
        authorization: Authorization = None,
        purpose: PurposeOfUse = None,
    ) -> JSONResponse:
        """The node's verdict on one version of a record, with its proof (and the record, if it opens)."""
        return await answer(resource_type, record_id, version, authorization, purpose)

    return router
