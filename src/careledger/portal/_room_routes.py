"""The visit room's page: the two videos, who is waiting, admitting her, hanging up.

The page only shows. Whether the caller may enter is the rooms service's decision (`careledger.telehealth`),
asked here as the WebSocket asks it, so a refused caller gets the refusal as a page (404 for an Appointment she
may not know of, 403 with the room's hours outside them); the page's script (`static/room.js`) joins the room's
WebSocket (`/telehealth/rooms/<id>`) and connects the two browsers with WebRTC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.access import Accessor, default_purpose
from careledger.portal._names import name_of
from careledger.portal._pages import Pages
from careledger.portal._views import person_name
from careledger.services import Services
from careledger.telehealth import Admission, RoomRole

if TYPE_CHECKING:
    from careledger.api import Caller


def room_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """`/portal/visits/{appointment_id}/room` on `router`."""

    @router.get("/portal/visits/{appointment_id}/room")
    async def room(request: Request, appointment_id: str) -> Response:
        """The visit room of one Appointment, for its patient or one of its practitioners, in its window."""
        visit = await pages.sessions.visit(request)
        accessor = _accessor(visit.signed_in)
        admission = await call(node.rooms.admission, accessor, appointment_id)
        patient, practitioner = await call(_names, node, accessor, admission)
        return pages.render(
            request,
            visit,
            "room.html",
            admission=admission,
            patient=patient,
            practitioner=practitioner,
            peer=practitioner if admission.role == RoomRole.PATIENT else patient,
        )


def _accessor(caller: Caller) -> Accessor:
    """The caller as the room's WebSocket judges her (`api.Deps.accessor` with no declared purpose)."""
    purpose = default_purpose(caller.role, proxy=caller.acts_for is not None)
    return Accessor(caller.address, purpose, narrowing=caller.narrowing(), compartment=caller.acts_for)


def _names(node: Services, accessor: Accessor, admission: Admission) -> tuple[str, str]:
    """The patient's name (her Patient record, read through the caller's door) and the first practitioner's
    (her wallet's name here)."""
    patient = person_name(node.access.for_caller(accessor).read(admission.patient_id)) or "The patient"
    return patient, name_of(node, admission.practitioners[0])
