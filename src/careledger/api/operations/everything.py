"""`GET /Patient/{id}/$everything`: a patient's compartment, as far as the caller may see it, a page at a time.

The compartment is one search through the guarded repository (a Patient's `patient_id` is its
own id), narrowed by `_type` and `_since`, and paged by the search's own `Paging` (`_count`,
`_offset`, the same default and maximum): only the page is decrypted, and the links of each
page lead to the next as a search's do. With `_proofs=true` each entry carries its record's proof (the
`record-proof` extension of docs/proofs.md), which `careledger verify` checks with no node.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, call
from careledger.api._responses import fhir_response
from careledger.api._search_results import Paging
from careledger.errors import NotFound, ValidationError
from careledger.fhir import is_resource_type
from careledger.records import DateCondition, SearchQuery

# What the operation reads of a request (R4's Patient-everything: `start`/`end` are not served); others are ignored.
PARAMS = ("_count", "_offset", "_since", "_type", "_proofs", "_format", "_pretty")


def compartment(record_id: str, since: str | None, types: list[str]) -> SearchQuery:
    """The search of Patient `record_id`'s compartment that `_since` and the `_type`s (comma-joined) narrow."""
    wanted = [name for value in types for name in value.split(",")]
    for name in wanted:
        if not is_resource_type(name):
            raise ValidationError(f"_type names no resource type this server has: {name[:64]!r}")
    return SearchQuery(
        patient_id=record_id,
        resource_types=tuple(wanted) if wanted else None,
        dates=(DateCondition("_lastUpdated", "ge", since),) if since is not None else (),
    )


def _flag(value: str | None, name: str) -> bool:
    """A boolean query parameter: absent or `false` is False, `true` True; anything else is a 400."""
    if value in (None, "false"):
        return False
    if value == "true":
        return True
    raise ValidationError(f"{name} is true or false, not {str(value)[:64]!r}")


def everything_router(deps: Deps) -> APIRouter:
    """The `$everything` operation on Patient."""
    router = APIRouter(tags=["fhir"])

    @router.get("/Patient/{record_id}/$everything")
    async def everything(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A page of the records of the patient the caller may see (`_count`, `_offset`), those changed since
        `_since`, of the types `_type` names; 404 if she may see none (or there is no such Patient)."""
        accessor = deps.signed_in(authorization, purpose, "*", "read")
        params = request.query_params
        paging = Paging.of(params)
        with_proofs = _flag(params.get("_proofs"), "_proofs")
        query = compartment(record_id, params.get("_since"), params.getlist("_type"))
        repository = deps.node.access.for_caller(accessor)
        page = await call(repository.search_page, query, offset=paging.offset, count=paging.count)
        whole = SearchQuery(patient_id=record_id)
        if not page.total and (query == whole or not (await call(repository.search_page, whole, count=0)).total):
            raise NotFound(f"no Patient/{record_id} this caller may see")
        used = [(name, value) for name, value in params.multi_items() if name in PARAMS]
        url = f"{request.base_url}Patient/{record_id}/$everything"
        bundle = paging.bundle(request, url, used, page.resources, page.total)
        if with_proofs:
            proofs = await call(deps.node.proofs.of, accessor, page.resources)
            for entry in bundle["entry"]:
                resource = entry["resource"]
                proof = proofs.get((resource.get("id"), int(resource.get("meta", {}).get("versionId", 0))))
                if proof is not None:
                    entry["extension"] = [proof.extension()]
        return fhir_response(bundle)

    return router
