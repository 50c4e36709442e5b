"""`Appointment/$find`, `$book`, `$cancel` and `$reschedule`: booking a practitioner's Slots over FHIR.

As the HL7 Scheduling IG (Argonaut's) has them: `$find` proposes Appointments for the open Slots that match
(`status: proposed`, nothing stored; each Slot comes along as an `include` entry), `$book` books one of them (or
a Slot named by reference) for a patient. Every record is read and written through the caller's door
(`telehealth.Scheduling`): who may book, cancel or move whose Appointment is the access policy's.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response
from careledger.api.operations._parameters import Kind, bounded_count, operation_parameters, reference_id
from careledger.errors import ValidationError
from careledger.fhir import loads_object
from careledger.records import Resource
from careledger.telehealth import Opening, parse_instant, proposal, slot_ids

FIND_PARAMETERS = {
    "practitioner": Kind.REFERENCE,
    "service-type": Kind.TEXT,
    "visit-mode": Kind.TEXT,
    "start": Kind.INSTANT,
    "end": Kind.INSTANT,
    "patient": Kind.REFERENCE,
    "_count": Kind.INTEGER,
}
BOOK_PARAMETERS = {
    "slot": Kind.REFERENCE,
    "patient": Kind.REFERENCE,
    "reason": Kind.TEXT,
    "appt-resource": Kind.RESOURCE,
    # a visit `$prepare-book` held, booked with her signatures (`visit.book_held`)
    "appointment": Kind.REFERENCE,
    **dict.fromkeys(("consent", "consent-signature", "terms", "terms-signature", "permit-signature"), Kind.TEXT),
}
DEFAULT_DAYS = 14  # `$find` without an `end`: the next two weeks
MAX_COUNT = 200  # proposals one `$find` answers at most


def appointment_router(deps: Deps) -> APIRouter:
    """The scheduling operations on Appointment."""
    router = APIRouter(tags=["scheduling"])
    node = deps.node

    @router.post("/Appointment/$find")  # a route per method: each its own OpenAPI operation id
    @router.get("/Appointment/$find")
    async def find(request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None) -> JSONResponse:
        """A searchset Bundle of proposed Appointments, one per open Slot (soonest first, `_count` at most) of the
        active Schedules of `practitioner` offering `service-type` (a service class) in `visit-mode` (virtual,
        in-person), starting from `start` (default now) until `end` (default two weeks on); for `patient` if given.
        Parameters in the query (GET) or a Parameters body (POST). 400 for a malformed date, a `_count` outside 1 to
        200, or a parameter of the wrong type."""
        accessor = deps.signed_in(authorization, purpose, "Slot", "read")
        given = dict(request.query_params.items())
        if request.method == "POST":
            given.update(operation_parameters(loads_object(await body_of(request)), FIND_PARAMETERS))
        reader = node.access.for_caller(accessor)
        begin = parse_instant(given["start"], "start") if "start" in given else node.scheduling.now()
        end = parse_instant(given["end"], "end") if "end" in given else begin + timedelta(days=DEFAULT_DAYS)
        openings = await call(
            node.scheduling.find,
            reader,
            begin,
            end,
            practitioner=given.get("practitioner"),
            service_type=given.get("service-type"),
            mode=given.get("visit-mode"),
            limit=bounded_count(given, "_count", 50, 1, MAX_COUNT),
        )
        patient = reference_id(given["patient"], "Patient", "patient") if "patient" in given else None
        return fhir_response(_proposals(request, openings, patient))

    @router.post("/Appointment/$book", status_code=201)
    async def book(request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None) -> JSONResponse:
        """Book a Slot for a patient: a Parameters body with `slot` (a Slot reference) and `patient` (a Patient
        reference), and `reason` (text) if any; or with `appt-resource`, a proposed Appointment from `$find` naming
        its Patient; or, for a visit `$prepare-book` held, `appointment` and her signatures (`visit.book_held`).
        201 with the booked Appointment; 409 if another booking holds the slot; 404 alike for an unknown slot and a
        Patient the caller may not book for; 400 for a slot with a fee she would pay, booked without signatures."""
        accessor = deps.signed_in(authorization, purpose, "Appointment", "write")
        data = loads_object(await body_of(request))
        repo = node.access.for_caller(accessor)
        if "appointment" in operation_parameters(data, BOOK_PARAMETERS):  # a visit `$prepare-book` held, signed
            from careledger.api.operations.visit import book_held  # that module builds on this one's helpers

            return _written(request, await book_held(node, repo, data), 201)
        slot, patient, reason = _booking(data)
        booked = await call(node.visits.book_free, repo, slot, patient, reason=reason)  # unpaid ones refused
        return _written(request, booked, 201)

    @router.post("/Appointment/{appointment_id}/$cancel")
    async def cancel(
        appointment_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Cancel an Appointment the caller may write (`reason`, text, in a Parameters body if any): its slot is free
        again. 404 alike for an unknown id and one the caller may not see."""
        accessor = deps.signed_in(authorization, purpose, "Appointment", "write")
        body = await body_of(request)
        reason = operation_parameters(loads_object(body), {"reason": Kind.TEXT}).get("reason") if body else None
        repo = node.access.for_caller(accessor)
        cancelled, _refund = await call(node.visits.cancel, repo, appointment_id, reason)  # a fee held is refunded
        return _written(request, cancelled, 200)

    @router.post("/Appointment/{appointment_id}/$reschedule")
    async def reschedule(
        appointment_id: str, request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Move an Appointment to another Slot (`slot`, a reference, in a Parameters body) of the same practitioner
        and service, in one transaction: 409 if that slot is taken (the Appointment stays where it was), and for a
        visit paid in escrow, which is cancelled (refunded) and booked again instead (`Visits.reschedule`)."""
        accessor = deps.signed_in(authorization, purpose, "Appointment", "write")
        given = operation_parameters(loads_object(await body_of(request)), {"slot": Kind.REFERENCE})
        if "slot" not in given:
            raise ValidationError("$reschedule takes a Parameters body with a slot (Slot/<id>)")
        slot = reference_id(given["slot"], "Slot", "slot")
        repo = node.access.for_caller(accessor)
        return _written(request, await call(node.visits.reschedule, repo, appointment_id, slot), 200)

    return router


def _booking(data: dict[str, Any]) -> tuple[str, str, str | None]:
    """The slot id, the Patient id and the reason a `$book` body asks for."""
    given = operation_parameters(data, BOOK_PARAMETERS)
    proposed = next(
        (
            p.get("resource")
            for p in data.get("parameter", [])
            if isinstance(p, dict) and p.get("name") == "appt-resource"
        ),
        None,
    )
    if isinstance(proposed, dict):
        if proposed.get("resourceType") != "Appointment":
            raise ValidationError("appt-resource must be an Appointment")
        slots = slot_ids(proposed)
        patients = [
            str(p["actor"]["reference"])
            for p in proposed.get("participant", [])
            if isinstance(p, dict) and str(p.get("actor", {}).get("reference", "")).startswith("Patient/")
        ]
        if len(slots) != 1 or len(patients) != 1:
            raise ValidationError("appt-resource must name one Slot and one Patient")
        reasons = [r.get("text") for r in proposed.get("reasonCode", []) if isinstance(r, dict)]
        return slots[0], reference_id(patients[0], "Patient", "patient"), next((r for r in reasons if r), None)
    missing = [name for name in ("slot", "patient") if name not in given]
    if missing:
        raise ValidationError(f"$book needs {' and '.join(missing)} (or an appt-resource)")
    return (
        reference_id(given["slot"], "Slot", "slot"),
        reference_id(given["patient"], "Patient", "patient"),
        given.get("reason"),
    )


def _proposals(request: Request, openings: list[Opening], patient: str | None) -> dict[str, Any]:
    """The searchset Bundle `$find` answers: a proposed Appointment per opening (not stored: a `urn:uuid`), then
    each Slot as an include."""
    base = str(request.base_url)
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": proposal(o, patient), "search": {"mode": "match"}}
        for o in openings
    ]
    entries += [
        {"fullUrl": f"{base}Slot/{o.slot['id']}", "resource": o.slot, "search": {"mode": "include"}} for o in openings
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": str(request.url)}],
        "total": len(openings),
        "entry": entries,
    }


def _written(request: Request, appointment: Resource, status: int) -> JSONResponse:
    """The Appointment as stored, with its `Location` and `ETag`."""
    version = appointment["meta"]["versionId"]
    headers = {
        "Location": f"{request.base_url}Appointment/{appointment['id']}/_history/{version}",
        "ETag": f'W/"{version}"',
    }
    return fhir_response(appointment, status, headers)
