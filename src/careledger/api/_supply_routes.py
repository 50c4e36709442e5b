"""`/supply/…`: a pharmacy's, wholesaler's or manufacturer's staff at the node's supply chain (issue 41).

```
POST /supply/verify      {scan}            ─► node.dispensary.verify     ─► the verdict (200, dispensable or not)
POST /supply/dispense    {scan, patient}   ─► node.dispensary.dispense   ─► 201 MedicationDispense (409: the verdict)
POST /supply/recall      {gtin, lot}       ─► node.dispensary.recall     ─► the transaction
POST /supply/quarantine  {scan, reason}    ─► node.dispensary.quarantine
POST /supply/release     {scan}            ─► node.dispensary.release
GET  /supply/trace?id=   (a scan or an EPC) ─► node.supply.trace          ─► every custody step, signed and anchored
GET  /supply/stock[?flagged=true]          ─► node.dispensary.stock
```

Every route here and under `/epcis/` judges a request in one order, so that what a caller learns is what she may:
1. who she is: her bearer token (401 for a stranger, whatever he sent: `BoundedRequests` knows the caller before
   it reads a body, so a huge or malformed one is 401 too);
2. whether she may take the action: her token's scopes cover it (`SUPPLY_SCOPE` below) and she acts for this node
   (its staff; a recall takes its operator or supply officer), judged by `SupplyRoles`: 403, audited under the
   action, before anything she sent is read;
3. what she sent: the query (a parameter the route does not take, or one given twice, is 400 naming it), the
   body's type (415 unless `application/json`) and the body (400 naming the field; a scan's element named by the
   service: `gtin: check digit …`).
Refusals are OperationOutcomes, as every non-EPCIS route's; a dispense writes through the caller's own door.

The supply chain is one resource type of the SMART scopes, `SupplyEvent` (no FHIR type: the node's EPCIS events,
its custody steps and its stock): `user/SupplyEvent.rs` reads (events, capture jobs, trace, stock, and verify, which
changes nothing), `user/SupplyEvent.cud` acts (capture, dispense, recall, quarantine, release); a dispense takes
`MedicationDispense` write too, as it writes one. `user/*.read` and `user/*.write` cover them, as they cover any type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import ValidationError as ParseError

from careledger.api._auth import Caller
from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.errors import UnsupportedMediaType, ValidationError
from careledger.supplychain import parse_scan

SUPPLY_SCOPE = "SupplyEvent"  # the SMART scopes' name of the node's supply chain (module docstring)
READ, WRITE = "read", "write"
JSON_ONLY = frozenset({"application/json"})
_M = TypeVar("_M", bound=BaseModel)
# What a scanner sends (an element string, HRI, Digital Link or EPC URN): a GS1 DataMatrix holds at most ~2,300
# characters, a real pack's a hundred or so.
MAX_SCAN = 2048
Scan = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SCAN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
FhirId = Annotated[str, StringConstraints(pattern=r"^(Patient/)?[A-Za-z0-9\-.]{1,64}$")]
_FLAGS = {"true": True, "false": False}


class _Body(BaseModel):
    """A JSON body of the supply routes: its members named, nothing else."""

    model_config = ConfigDict(extra="forbid")


class _Verify(_Body):
    scan: Scan


class _Dispense(_Body):
    scan: Scan
    patient: FhirId


class _Recall(_Body):
    gtin: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    lot: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class _Quarantine(_Body):
    scan: Scan
    reason: Text


async def acting(
    deps: Deps, authorization: str | None, action: str, access: str, *, also: tuple[str, ...] = ()
) -> Caller:
    """The caller, once she may take `action` for the node's supply chain: signed in (401), her token's scopes
    covering `access` (read or write) of `SUPPLY_SCOPE` and of the types in `also`, and acting for this node; each
    refusal 403, audited under `action` by the one supply role rule. Called before anything she sent is read."""
    caller = deps.caller(authorization)
    granted = all(caller.may(resource_type, access) for resource_type in (SUPPLY_SCOPE, *also))
    await call(deps.node.dispensary.roles.require, caller.address, action, granted=granted)
    return caller


def parameters(request: Request, *served: str) -> dict[str, str]:
    """The request's query parameters, none but `served` and each at most once: a parameter ignored would be a
    question left unanswered, one given twice a guess at which counts (400 naming it either way)."""
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in served:
            takes = ", ".join(served) if served else "none"
            raise ValidationError(f"{name[:40]}: not a parameter of {request.url.path} (it takes {takes})")
        if name in found:
            raise ValidationError(f"{name}: given more than once; give it once")
        found[name] = value
    return found


async def json_body(request: Request, types: frozenset[str] = JSON_ONLY) -> bytes:
    """The body, if it is of one of `types` (415 naming them otherwise): judged here, once the caller is known and
    allowed (`BoundedRequests` leaves `/supply/` and `/epcis/` bodies' types to their routes)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in types:
        raise UnsupportedMediaType(f"send {' or '.join(sorted(types))}, not {media_type[:60] or '(none)'}")
    return await body_of(request)


def supply_router(deps: Deps) -> APIRouter:
    """The supply-chain routes of `deps.node` (`node.supply`, `node.dispensary`)."""
    router = APIRouter(tags=["supply"])
    node = deps.node

    @router.post("/supply/verify", openapi_extra=_body(_Verify))
    async def verify(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Whether the scanned pack may be dispensed here, and if not why (`code`, `reason`): 200 either way;
        400 naming the element of a scan that is not a GS1 code (`gtin: check digit should be 3, not 4`)."""
        caller = await acting(deps, authorization, "supply.verify", READ)
        asked = await _asked(request, _Verify)
        verdict = await call(node.dispensary.verify, asked.scan, by=caller.address)
        return JSONResponse(verdict.to_json())

    @router.post("/supply/dispense", status_code=201, openapi_extra=_body(_Dispense))
    async def dispense(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Dispense the scanned pack to `patient` (a Patient id): her MedicationDispense written through the
        caller's door, then the pack decommissioned on chain; 201 with its id and `Location`, 409 with the
        verdict's reason if the pack may not be dispensed."""
        caller = await acting(deps, authorization, "supply.dispense", WRITE, also=("MedicationDispense",))
        asked = await _asked(request, _Dispense)
        accessor = deps.accessor(caller, purpose)
        patient = asked.patient.removeprefix("Patient/")
        done = await call(node.dispensary.dispense, asked.scan, patient, accessor, by=caller.address)
        location = f"{request.base_url}MedicationDispense/{done.record_id}"
        return JSONResponse({"id": done.record_id, **done.to_json()}, status_code=201, headers={"Location": location})

    @router.post("/supply/recall", openapi_extra=_body(_Recall))
    async def recall(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Recall a lot (as its manufacturer or a regulator; the node's operator or its supply officer): every node
        holding its packs flags them within a block, and tells each patient it dispensed one to."""
        caller = await acting(deps, authorization, "supply.recall", WRITE)
        asked = await _asked(request, _Recall)
        receipt = await call(node.dispensary.recall, asked.gtin, asked.lot, by=caller.address)
        done = {"gtin": asked.gtin, "lot": asked.lot, "tx": receipt.tx_hash.to_0x_hex(), "block": receipt.block}
        return JSONResponse(done)

    @router.post("/supply/quarantine", openapi_extra=_body(_Quarantine))
    async def quarantine(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Set a suspect pack aside here, for `reason`: it verifies as quarantined until it is released (`changed`:
        false if it was set aside already)."""
        caller = await acting(deps, authorization, "supply.quarantine", WRITE)
        asked = await _asked(request, _Quarantine)
        changed = await call(node.dispensary.quarantine, asked.scan, asked.reason, by=caller.address)
        return JSONResponse({"quarantined": True, "changed": changed, "reason": asked.reason})

    @router.post("/supply/release", openapi_extra=_body(_Verify))
    async def release(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Release a pack this node quarantined (`changed`: false if it was not)."""
        caller = await acting(deps, authorization, "supply.release", WRITE)
        asked = await _asked(request, _Verify)
        changed = await call(node.dispensary.release, asked.scan, by=caller.address)
        return JSONResponse({"quarantined": False, "changed": changed})

    @router.get("/supply/trace", openapi_extra=query_openapi({"id": "a scan or an EPC (required)"}))
    async def trace(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Every custody step of a pack or container, from its commissioning: who, when, the EPCIS event with its
        signer's signature, the transaction, and the Merkle proof anchoring the event."""
        caller = await acting(deps, authorization, "supply.trace", READ)
        named = parameters(request, "id").get("id", "")
        if not 0 < len(named) <= MAX_SCAN:
            raise ValidationError(f"id: a scan or an EPC of 1 to {MAX_SCAN:,} characters is required")
        found = await call(node.supply.trace, parse_scan(named), by=caller.address)
        return JSONResponse(found.as_json())

    @router.get(
        "/supply/stock", openapi_extra=query_openapi({"flagged": "true: only the packs recalled or quarantined"})
    )
    async def stock(request: Request, authorization: Authorization = None) -> JSONResponse:
        """The packs this node holds (`flagged=true`: only those recalled or quarantined), each with its flag."""
        caller = await acting(deps, authorization, "supply.stock", READ)
        flagged = parameters(request, "flagged").get("flagged", "false")
        if flagged.lower() not in _FLAGS:
            raise ValidationError(f"flagged: true or false, not {flagged[:20]!r}")
        items = await call(node.dispensary.stock, by=caller.address, flagged_only=_FLAGS[flagged.lower()])
        return JSONResponse({"items": [item.to_json() for item in items]})

    return router


async def _asked(request: Request, model: type[_M]) -> _M:
    """The body of a route that takes no query parameters, as `model`."""
    parameters(request)
    return _parsed(model, await json_body(request))


def _parsed(model: type[_M], body: bytes) -> _M:
    """`body` as `model`; `ValidationError` (400) naming each field that is wrong."""
    try:
        return model.model_validate_json(body)
    except ParseError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise ValidationError(problems) from None


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI of a body the route reads itself (after the caller is known)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def query_openapi(described: Mapping[str, str]) -> dict[str, Any]:
    """The OpenAPI of query parameters the route reads itself (after the caller is known), each a string."""
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
            for name, text in described.items()
        ]
    }
