"""`GET|POST /Patient/{id}/$assess`: a patient's scores from published equations, as FHIR, stored if asked.

The scores read what the caller's door shows her of the patient (`Insight.gather`), so a caller without consent
learns what an unknown id would tell her; each computed score is a RiskAssessment (or an Observation, for eGFR)
naming its equation, version and the records it read, and one OperationOutcome says why the others could not be
computed. With `write=true` (POST only: a GET changes nothing) they are stored through that same door, as hers.

The token must allow reading each type the scores are gathered from (`GATHERED`: Patient, Observation, Condition,
MedicationStatement, MedicationRequest, AllergyIntolerance, FamilyMemberHistory), by a wildcard or a scope per
type: a type a token has no scope for is not narrowed by the door, so it is refused here rather than read.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response, stored_body
from careledger.api.operations._parameters import Kind, operation_parameters, repeated_parameter
from careledger.errors import ValidationError
from careledger.fhir import loads_object
from careledger.insight import Assessment, CannotCompute, Facts, Result, Score, as_fhir, outcome
from careledger.insight.cds import GATHERED
from careledger.records import Resource, StoredRecord

WRITTEN_TYPES = ("RiskAssessment", "Observation")  # what `write=true` stores: the token must allow writing both


def assess_router(deps: Deps) -> APIRouter:
    """The `$assess` operation on Patient."""
    router = APIRouter(tags=["insight"])
    node = deps.node

    @router.post("/Patient/{record_id}/$assess")  # a route per method: each its own OpenAPI operation id
    @router.get("/Patient/{record_id}/$assess")
    async def assess(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """A collection Bundle of the patient's scores (`score`, 0..*: ids; every score if none): a RiskAssessment
        or Observation per score computed, and an OperationOutcome with an issue per score that could not be, saying
        what is missing. Parameters in the query (GET) or a Parameters body (POST); `write` (POST, boolean) stores
        them as the caller and answers 201 with their ids. 400 for an unknown score or a malformed parameter; 404 for
        a Patient the caller may not see, as for one there is not."""
        caller = deps.caller(authorization)
        for resource_type in GATHERED:  # per-type scopes do (a SMART app's patient/Observation.rs ...), not only *
            caller.require(resource_type, "read")
        ids, writing = await _asked(request)
        for resource_type in WRITTEN_TYPES if writing else ():
            caller.require(resource_type, "write")
        insight = node.insight
        chosen = [score.id for score in insight.chosen(ids or None)]  # an unknown score is refused before any read
        repository = node.access.for_caller(deps.accessor(caller, purpose))
        facts = await call(insight.gather, repository, record_id)
        results = insight.score(facts, chosen)
        stored = await call(insight.write, repository, facts, results) if writing else []
        return fhir_response(_bundle(request, facts, results, stored), 201 if stored else 200)

    return router


async def _asked(request: Request) -> tuple[list[str], bool]:
    """The score ids asked for and whether to write them: from the query (GET) or a Parameters body (POST)."""
    if request.method == "GET":
        query = request.query_params
        if query.get("write", "false") != "false":
            raise ValidationError("$assess stores scores only when POSTed a Parameters body with write = true")
        return query.getlist("score"), False
    data = loads_object(await body_of(request))
    writing = operation_parameters(data, {"write": Kind.BOOLEAN}).get("write") == "true"
    return repeated_parameter(data, "score", Kind.TEXT), writing


def _bundle(
    request: Request, facts: Facts, results: list[tuple[Score, Result]], stored: list[tuple[StoredRecord, Resource]]
) -> dict[str, Any]:
    """The answer: the scores as stored (with ids) or as computed (not stored: a `urn:uuid` each), then the
    OperationOutcome of those that could not be computed."""
    base = str(request.base_url)
    if stored:
        entries = [
            {"fullUrl": f"{base}{version.resource_type}/{version.record_id}", "resource": stored_body(data, version)}
            for version, data in stored
        ]
    else:
        entries = [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": as_fhir(result, facts, score)}
            for score, result in results
            if isinstance(result, Assessment)
        ]
    refused = [(score, result) for score, result in results if isinstance(result, CannotCompute)]
    if refused:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome(refused)})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
