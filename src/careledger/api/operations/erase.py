"""`GET /Patient/{id}/$erase`: what erasing her records would do, and the request her wallet signs to confirm it;
`POST /Patient/{id}/$erase`: her signed request (Parameters `request` and `signature`), carried out, the nodes that
fetched copies asked to do the same; `POST /exchange/erasure`: the node she asked passes her request on (signed by
that node: no sign-in). docs/erasure.md.

The Patient is found through the caller's door (one she may not read is an unknown id); what may be erased, and
who may ask, is the erasure service's: her signature is her confirmation.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.access import Accessor
from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response
from careledger.api.operations._parameters import Kind, operation_parameters
from careledger.erasure import Erasure, Plan, SignedErasure, SignedNotice
from careledger.errors import NotFound, ValidationError
from careledger.fhir import loads_object

_SIGNED = {"request": Kind.TEXT, "signature": Kind.TEXT}


def erase_router(deps: Deps) -> APIRouter:
    """The `$erase` operation on Patient, and the exchange's erasure notice."""
    router = APIRouter(tags=["fhir"])

    def patient_of(accessor: Accessor, record_id: str) -> str:
        """The wallet of Patient `record_id`, read through the caller's door; `NotFound` if it is none."""
        stored = deps.node.access.for_caller(accessor).stored(record_id)
        if stored.resource_type != "Patient":
            raise NotFound(f"no Patient/{record_id}")
        return stored.patient_address

    @router.get("/Patient/{record_id}/$erase")
    async def erase_preview(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """What erasing her records (`record`, repeated: those ids; none: all) would erase and keep, with the rule
        that keeps each, and the request to sign to confirm it (`request`, `typedData`); 403 for anyone but her."""
        accessor = deps.signed_in(authorization, purpose, "Patient", "read")
        patient = await call(patient_of, accessor, record_id)
        records = [value.rpartition("/")[2] for value in request.query_params.getlist("record")] or None
        plan = await call(deps.node.erasure.preview, accessor, patient, records)
        erasure = deps.node.erasure.request(patient, records)
        typed = await call(deps.node.erasure.typed_data, erasure)
        signing = [_text("request", json.dumps(erasure.to_json())), _text("typedData", json.dumps(typed))]
        return fhir_response(_parameters([*_plan(plan), *signing]))

    @router.post("/Patient/{record_id}/$erase")
    async def erase(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Her signed request carried out here (its confirmation is her signature): what was erased and kept, and
        each node asked; 401 for a request she did not sign (or stale, or replayed), 409 naming the rule that
        keeps what she named."""
        accessor = deps.signed_in(authorization, purpose, "Patient", "write")
        patient = await call(patient_of, accessor, record_id)
        given = operation_parameters(loads_object(await body_of(request)), _SIGNED)
        if given.keys() != _SIGNED.keys():
            raise ValidationError("$erase takes her signed request: the parameters request (its JSON) and signature")
        try:
            request_json = json.loads(given["request"])
        except ValueError as exc:
            raise ValidationError(f"the request parameter is not JSON: {exc}") from None
        signed = SignedErasure.from_json({"request": request_json, "signature": given["signature"]})
        if signed.request.patient != patient:
            raise ValidationError(f"the signed request is about another patient than Patient/{record_id}")
        return fhir_response(_parameters(_done(await call(deps.node.erasure.erase, signed))))

    @router.post("/exchange/erasure")
    async def exchange_erasure(request: Request) -> JSONResponse:
        """The node a patient asked to erase her records passes her signed request on: the copies this node
        received from it are erased, and the answer is signed by this node; 401 unless that node signed the
        notice, fresh and unused, and she (or her custodian, on her instruction) signed the request in it."""
        notice = SignedNotice.from_json(loads_object(await body_of(request)))
        return JSONResponse(await call(deps.node.erasure.answer, notice))

    return router


def _plan(plan: Plan) -> list[dict[str, Any]]:
    """A preview's parameters: each record erased (`erase`) and kept (`keep`: record and rule), ids that name
    nothing of hers (`unknown`), the nodes asked (`node`), and what cannot be erased (`note`)."""
    found = [_text("erase", f"{r.resource_type}/{r.record_id}") for r in plan.erasable]
    found += [_kept(k.resource_type, k.record_id, k.rule) for k in plan.kept]
    found += [_text("unknown", record_id) for record_id in plan.unknown]
    found += [_text("node", peer) for peer in plan.peers]
    return found + [_text("note", note) for note in plan.notes]


def _done(done: Erasure) -> list[dict[str, Any]]:
    """An erasure's parameters: its request id, each record erased, versions, kept records, and each node asked."""
    found = [_text("requestId", done.request_id), {"name": "versions", "valueInteger": done.versions}]
    found += [_text("erased", record_id) for record_id in done.erased]
    found += [_kept(k.resource_type, k.record_id, k.rule) for k in done.kept]
    found += [_text("unknown", record_id) for record_id in done.unknown]
    for peer in done.peers:
        parts = [_text("address", peer.peer), _text("status", peer.status)]
        parts += [_text("problem", peer.problem)] if peer.problem else []
        found.append({"name": "node", "part": parts})
    return found


def _kept(resource_type: str, record_id: str, rule: str) -> dict[str, Any]:
    return {"name": "keep", "part": [_text("record", f"{resource_type}/{record_id}"), _text("rule", rule)]}


def _text(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "valueString": value}


def _parameters(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": parameters}
