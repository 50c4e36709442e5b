"""Decision support in the portal: a patient's own scores (what went into each, what would lower it), and a staff
member's check of a medication order against the chart, shown before anything is written.

Both read through the caller's own door: the patient for herself, the staff member for treatment (or emergency
treatment after break-glass); each read is judged and shows in the patient's accounting.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.consent import Purpose
from careledger.portal._insight import ORDERABLE, drug_of, order_check, scores_of
from careledger.portal._pages import Pages
from careledger.portal._patient_routes import as_herself, own_patient_id, patient
from careledger.portal._staff_routes import chart_patient, staff_member, treating
from careledger.portal._views import person_name
from careledger.services import Services


def insight_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """`/portal/scores` (the patient's) and `/portal/staff/patients/{id}/orders` (the chart's order check)."""
    sessions = pages.sessions

    @router.get("/portal/scores")
    async def my_scores(request: Request) -> Response:
        """Her scores, each from her own record: value and band, the inputs with their dates, the equation and its
        version, what would lower it; or what is missing to compute it."""
        visit = await sessions.visit(request)
        door = node.access.for_caller(as_herself(patient(visit)))
        patient_id = await call(own_patient_id, door)
        scores = await call(scores_of, node, door, patient_id)
        return pages.render(request, visit, "scores.html", scores=scores)

    @router.get("/portal/staff/patients/{record_id}/orders")
    async def check_order(request: Request, record_id: str, drug: str = "", purpose: str = "") -> Response:
        """Check a medication order for this patient: the cards an order of the drug picked would raise (allergy,
        duplicate therapy, renal dose), from what this staff member may see; nothing is ordered or written."""
        visit = await sessions.visit(request)
        reader = treating(await staff_member(node, visit), purpose)
        door = node.access.for_caller(reader)
        person = await chart_patient(door, record_id)
        picked = drug_of(drug)
        cards = None if picked is None else await call(order_check, node, door, record_id, picked)
        return pages.render(
            request,
            visit,
            "orders.html",
            record_id=record_id,
            name=person_name(person) or "(no name)",
            emergency=reader.purpose == Purpose.ETREAT,
            drugs=ORDERABLE,
            picked=picked,
            cards=cards,
        )
