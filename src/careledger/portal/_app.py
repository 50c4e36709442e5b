"""The portal's routes and assets, added to the node's API app."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from careledger.errors import NotFound
from careledger.portal._accounting_routes import accounting_routes
from careledger.portal._break_glass_routes import break_glass_routes
from careledger.portal._clinical_routes import clinical_routes
from careledger.portal._consent_routes import care_team_routes, consent_routes
from careledger.portal._erasure_routes import erasure_routes
from careledger.portal._event_routes import event_routes
from careledger.portal._formats import zone
from careledger.portal._governance_routes import governance_routes
from careledger.portal._insight_routes import insight_routes
from careledger.portal._message_routes import message_routes
from careledger.portal._notes_routes import notes_routes
from careledger.portal._pages import Pages, portal_route
from careledger.portal._patient_routes import patient_routes
from careledger.portal._pharmacy_routes import pharmacy_routes
from careledger.portal._room_routes import room_routes
from careledger.portal._session import Sessions, SignIn
from careledger.portal._signin_routes import signin_routes
from careledger.portal._staff_routes import chart_routes, frontdesk_routes, staff_routes
from careledger.portal._study_routes import study_routes
from careledger.portal._trial_routes import trial_routes
from careledger.portal._trial_site_routes import trial_site_routes
from careledger.portal._trial_sponsor_routes import trial_sponsor_routes
from careledger.portal._visit_routes import booking_routes, staff_visit_routes, visit_routes
from careledger.services import Services

# Scripts and styles, ours and those vendored from npm (package.json pins them; a test checks the copies).
PORTAL_ASSETS = Path(__file__).resolve().parent / "static"


def add_portal(app: FastAPI, node: Services, auth: SignIn) -> None:
    """Serve the portal's pages under `/portal` and its assets under `/portal/assets`."""
    pages = Pages(Sessions(auth, node.shared.tickets, node.clients.tokens.revoke_access), zone(node.settings.timezone))
    router = APIRouter(route_class=portal_route(lambda: pages), include_in_schema=False)
    signin_routes(router, node, auth, pages)
    patient_routes(router, node, pages)
    clinical_routes(router, node, pages)
    message_routes(router, node, pages)
    event_routes(router, node, pages)
    room_routes(router, node, pages)
    visit_routes(router, node, pages)
    booking_routes(router, node, pages)
    staff_visit_routes(router, node, pages)
    consent_routes(router, node, pages)
    accounting_routes(router, node, pages)
    care_team_routes(router, node, pages)
    break_glass_routes(router, node, pages)
    erasure_routes(router, node, pages)
    governance_routes(router, node, pages)
    study_routes(router, node, pages)
    staff_routes(router, node, pages)
    chart_routes(router, node, pages)
    notes_routes(router, node, pages)
    insight_routes(router, node, pages)
    frontdesk_routes(router, node, pages)
    pharmacy_routes(router, node, pages)
    trial_site_routes(router, node, pages)  # before the participant's: /portal/trials/site is not a trial's id
    trial_sponsor_routes(router, node, pages)
    trial_routes(router, node, pages)

    @router.get("/portal/{unknown:path}")
    async def not_found(unknown: str) -> None:
        """A page the portal does not have, as a page (not a FHIR OperationOutcome)."""
        raise NotFound(f"the portal has no page /portal/{unknown[:80]}")

    app.mount("/portal/assets", StaticFiles(directory=PORTAL_ASSETS), name="portal-assets")
    app.include_router(router)
