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

The caller is signed in before her body is read (401 for a stranger, whatever she sent); a body is JSON checked
here (400 naming the field); a scan is parsed by the service (400 naming the element: `gtin: check digit …`).
Who may act for the node's supply chain is the services' word (its operator and staff; anyone else 403,
audited), and a dispense writes through the caller's own door. Refusals are OperationOutcomes, as every
non-EPCIS route's.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import ValidationError as ParseError

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.errors import ValidationError
from careledger.supplychain import parse_scan

_M = TypeVar("_M", bound=BaseModel)
# What a scanner sends (an element string, HRI, Digital Link or EPC URN): a GS1 DataMatrix holds at most ~2,300
# characters, a real pack's a hundred or so.
Scan = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
FhirId = Annotated[str, StringConstraints(pattern=r"^(Patient/)?[A-Za-z0-9\-.]{1,64}$")]


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


def supply_router(deps: Deps) -> APIRouter:
    """The supply-chain routes of `deps.node` (`node.supply`, `node.dispensary`)."""
    router = APIRouter(tags=["supply"])
    node = deps.node

    @router.post("/supply/verify", openapi_extra=_body(_Verify))
    async def verify(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Whether the scanned pack may be dispensed here, and if not why (`code`, `reason`): 200 either way;
        400 naming the element of a scan that is not a GS1 code (`gtin: check digit should be 3, not 4`)."""
        caller = deps.caller(authorization)
        asked = _parsed(_Verify, await body_of(request))
        verdict = await call(node.dispensary.verify, asked.scan, by=caller.address)
        return JSONResponse(verdict.to_json())

    @router.post("/supply/dispense", status_code=201, openapi_extra=_body(_Dispense))
    async def dispense(
        request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Dispense the scanned pack to `patient` (a Patient id): her MedicationDispense written through the
        caller's door, then the pack decommissioned on chain; 201 with its id and `Location`, 409 with the
        verdict's reason if the pack may not be dispensed."""
        caller = deps.caller(authorization)
        asked = _parsed(_Dispense, await body_of(request))
        await call(node.dispensary.staff, caller.address, "supply.dispense")  # who may: the service's word, audited
        caller.require("MedicationDispense", "write")  # and whether her token may write one
        accessor = deps.accessor(caller, purpose)
        patient = asked.patient.removeprefix("Patient/")
        done = await call(node.dispensary.dispense, asked.scan, patient, accessor, by=caller.address)
        location = f"{request.base_url}MedicationDispense/{done.record_id}"
        return JSONResponse({"id": done.record_id, **done.to_json()}, status_code=201, headers={"Location": location})

    @router.post("/supply/recall", openapi_extra=_body(_Recall))
    async def recall(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Recall a lot (as its manufacturer or a regulator): every node holding its packs flags them within a
        block, and tells each patient it dispensed one to."""
        caller = deps.caller(authorization)
        asked = _parsed(_Recall, await body_of(request))
        receipt = await call(node.dispensary.recall, asked.gtin, asked.lot, by=caller.address)
        done = {"gtin": asked.gtin, "lot": asked.lot, "tx": receipt.tx_hash.to_0x_hex(), "block": receipt.block}
        return JSONResponse(done)

    @router.post("/supply/quarantine", openapi_extra=_body(_Quarantine))
    async def quarantine(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Set a suspect pack aside here, for `reason`: it verifies as quarantined until it is released (`changed`:
        false if it was set aside already)."""
        caller = deps.caller(authorization)
        asked = _parsed(_Quarantine, await body_of(request))
        changed = await call(node.dispensary.quarantine, asked.scan, asked.reason, by=caller.address)
        return JSONResponse({"quarantined": True, "changed": changed, "reason": asked.reason})

    @router.post("/supply/release", openapi_extra=_body(_Verify))
    async def release(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Release a pack this node quarantined (`changed`: false if it was not)."""
        caller = deps.caller(authorization)
        asked = _parsed(_Verify, await body_of(request))
        changed = await call(node.dispensary.release, asked.scan, by=caller.address)
        return JSONResponse({"quarantined": False, "changed": changed})

    @router.get("/supply/trace")
    async def trace(
        identifier: Annotated[str, Query(alias="id", min_length=1, max_length=2048, description="a scan or an EPC")],
        authorization: Authorization = None,
    ) -> JSONResponse:
        """Every custody step of a pack or container, from its commissioning: who, when, the EPCIS event with its
        signer's signature, the transaction, and the Merkle proof anchoring the event."""
        caller = deps.caller(authorization)
        found = await call(node.supply.trace, parse_scan(identifier), by=caller.address)
        return JSONResponse(found.as_json())

    @router.get("/supply/stock")
    async def stock(flagged: bool = False, authorization: Authorization = None) -> JSONResponse:
        """The packs this node holds (`flagged=true`: only those recalled or quarantined), each with its flag."""
        caller = deps.caller(authorization)
        items = await call(node.dispensary.stock, by=caller.address, flagged_only=flagged)
        return JSONResponse({"items": [item.to_json() for item in items]})

    return router


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
