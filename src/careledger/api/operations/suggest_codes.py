"""`POST /Patient/{id}/$suggest-codes`: coded suggestions from a note's text, for the clinician to confirm.

    Parameters (text, or note: a DocumentReference/Composition) ─► the caller's door: the Patient, the note
        ─► insight.notes.suggest ─► Parameters: a `suggestion` per code and status (its codes, words, places),
                                                `truncated`, and `drafts`, a transaction Bundle of the drafts

Nothing is written: the clinician confirms by writing the drafts she keeps (POSTing the Bundle, less the entries
she drops, or each resource), through her own door like any write. The Patient and the note are read through the
caller's door, so one she may not see is told as an unknown id is.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.access import Repository
from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response
from careledger.api.operations._parameters import Kind, operation_parameters
from careledger.errors import UnknownRecord, ValidationError
from careledger.fhir import loads_object
from careledger.insight.notes import Reading, Suggestion, as_drafts, read_note, suggest

_ACCEPTED = {"text": Kind.TEXT, "note": Kind.REFERENCE}


def suggest_codes_router(deps: Deps) -> APIRouter:
    """The `$suggest-codes` operation on Patient."""
    router = APIRouter(tags=["insight"])

    @router.post("/Patient/{record_id}/$suggest-codes")
    async def suggest_codes(
        record_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Conditions and medications a note names, each with how it names them (present, negated, historical,
        family, allergy, uncertain), and a transaction Bundle of drafts of the present, historical and uncertain
        ones: a Parameters body with `text` (a string of at most 64 KiB) or `note` (a DocumentReference with an
        inline text/plain attachment, or a Composition, about this patient). Nothing is stored. 400 for another
        body, 413 for a longer text, 404 alike for an unknown Patient or note and one the caller may not see."""
        accessor = deps.signed_in(authorization, purpose, "Patient", "read")
        given = operation_parameters(loads_object(await body_of(request)), _ACCEPTED)
        if ("text" in given) == ("note" in given):
            raise ValidationError("$suggest-codes takes one of text (the note's words) or note (a reference to it)")
        found = await call(_suggestions, deps.node.access.for_caller(accessor), record_id, given)
        return fhir_response(_answer(found))

    return router


def _suggestions(door: Repository, patient: str, given: dict[str, str]) -> Reading:
    """The suggestions for `patient` (read first: refused as an unknown id if she may not be seen) of the text or
    the note `given` names."""
    if door.read(patient).get("resourceType") != "Patient":
        raise UnknownRecord(patient)
    if "text" in given:
        return suggest(given["text"], patient=patient)
    reference = given["note"].strip()
    return suggest(read_note(door, reference, patient), patient=patient, source=reference)


def _answer(found: Reading) -> dict[str, Any]:
    """The operation's Parameters: a part per suggestion (`draft` naming its entry in the Bundle, if drafted),
    whether suggestions past the cap were left out, then the Bundle of drafts."""
    drafts = as_drafts(found.suggestions)
    urls = {key: f"urn:uuid:{uuid.uuid4()}" for key in drafts}
    parts = [
        {"name": "suggestion", "part": _part(s, urls[s.draft_key] if s.drafted else None)} for s in found.suggestions
    ]
    entries = [
        {"fullUrl": urls[key], "resource": draft, "request": {"method": "POST", "url": draft["resourceType"]}}
        for key, draft in drafts.items()
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    truncated = {"name": "truncated", "valueBoolean": found.truncated}
    return {"resourceType": "Parameters", "parameter": [*parts, truncated, {"name": "drafts", "resource": bundle}]}


def _part(suggestion: Suggestion, draft: str | None) -> list[dict[str, Any]]:
    """One suggestion's parts: kind, status, codes, display, the words of its first mention and their place, how
    many mentions it has and the places of the first `MAX_PLACES`, and its draft's fullUrl."""
    places = [
        {"name": "place", "part": [{"name": "start", "valueInteger": start}, {"name": "end", "valueInteger": end}]}
        for start, end in suggestion.places
    ]
    codings = [{"name": "code", "valueCoding": {"system": c.system, "code": c.code}} for c in suggestion.codes]
    return [
        {"name": "kind", "valueCode": suggestion.kind},
        {"name": "status", "valueCode": suggestion.status},
        *codings,
        {"name": "display", "valueString": suggestion.display},
        {"name": "text", "valueString": suggestion.text},
        {"name": "start", "valueInteger": suggestion.start},
        {"name": "end", "valueInteger": suggestion.end},
        {"name": "sentence", "valueString": suggestion.sentence},
        {"name": "mentions", "valueInteger": suggestion.mentions},
        *places,
        *([{"name": "draft", "valueUri": draft}] if draft else []),
    ]
