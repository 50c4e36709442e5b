"""The medication list and the results, for the patient herself and in a staff member's chart of her.

Both read through the caller's own door (the patient for herself, the staff member for treatment), and name
what the records point to (a Medication, a prescriber, a performer) through that same door: what the reader may
not see stays unnamed, and every read shows in the patient's accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.access import Repository
from careledger.portal._clinical import (
    MEDICATION_TYPES,
    NOTICE_CATEGORY,
    NOTICE_TYPES,
    RESULT_TYPES,
    Namer,
    medications,
    results,
)
from careledger.portal._names import reference_names
from careledger.portal._pages import Pages
from careledger.portal._patient_routes import as_herself, patient
from careledger.portal._session import Visit
from careledger.portal._staff_routes import chart_patient, staff_member, treating
from careledger.portal._views import person_name
from careledger.records import Resource, SearchQuery, TokenCondition
from careledger.services import Services

_NEWEST = (("_lastUpdated", True),)
_ALERTS = (TokenCondition("category", (NOTICE_CATEGORY,)),)


@dataclass(frozen=True, slots=True)
class _Whose:
    """Whose records a page shows and how it reads them: her own (no chart), or a chart of hers a staff member
    opened (its id, the purpose it is read for, the patient's name)."""

    query: SearchQuery
    chart: str = ""
    purpose: str = ""
    name: str = ""


def _own(address: str) -> _Whose:
    """The signed-in patient's own records."""
    return _Whose(SearchQuery(patient_address=address, sort=_NEWEST))


def clinical_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """Medications and results on `router`: `/portal/medications`, `/portal/results`, and the chart's own."""
    sessions = pages.sessions

    def _read(door: Repository, whose: _Whose, types: tuple[str, ...]) -> tuple[list[Resource], Namer]:
        """The records of `types` the door shows, and a namer of what they point to."""
        found = door.search(replace(whose.query, resource_types=types))
        return found, reference_names(node, door, found)

    def _read_medications(door: Repository, whose: _Whose) -> tuple[list[Resource], Namer]:
        """Her medication records and, when a pack was dispensed to her, her alerts (a recall notice is one, about
        the dispense), through the same door."""
        found, name = _read(door, whose, MEDICATION_TYPES)
        if any(r.get("resourceType") == "MedicationDispense" for r in found):
            found += door.search(replace(whose.query, resource_types=NOTICE_TYPES, tokens=_ALERTS))
        return found, name

    async def _medications(request: Request, visit: Visit, door: Repository, whose: _Whose) -> Response:
        found, name = await call(_read_medications, door, whose)
        listed = medications(found, name)
        current = [m for m in listed if m.current]
        past = [m for m in listed if not m.current]
        return pages.render(request, visit, "medications.html", current=current, past=past, whose=whose)

    async def _results(request: Request, visit: Visit, door: Repository, whose: _Whose) -> Response:
        found, name = await call(_read, door, whose, RESULT_TYPES)
        reports, alone = results(found, name)
        return pages.render(request, visit, "results.html", reports=reports, alone=alone, whose=whose)

    @router.get("/portal/medications")
    async def my_medications(request: Request) -> Response:
        """Her medications: current ones, then past ones, with doses in words and who prescribed them."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        return await _medications(request, visit, node.access.for_caller(as_herself(caller)), _own(caller.address))

    @router.get("/portal/results")
    async def my_results(request: Request) -> Response:
        """Her results: reports with their results, then the others; ranges and flags in words."""
        visit = await sessions.visit(request)
        caller = patient(visit)
        return await _results(request, visit, node.access.for_caller(as_herself(caller)), _own(caller.address))

    async def _chart(request: Request, record_id: str, purpose: str) -> tuple[Visit, Repository, _Whose]:
        """The staff member's visit, door and the chart's patient (`UnknownRecord` for anything but a Patient)."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        reader = treating(caller, purpose)
        door = node.access.for_caller(reader)
        person = await chart_patient(door, record_id)
        query = SearchQuery(patient_id=record_id, sort=_NEWEST)
        return visit, door, _Whose(query, record_id, reader.purpose.value, person_name(person) or "(no name)")

    @router.get("/portal/staff/patients/{record_id}/medications")
    async def chart_medications(request: Request, record_id: str, purpose: str = "") -> Response:
        """A patient's medications, as the staff member may see them."""
        return await _medications(request, *await _chart(request, record_id, purpose))

    @router.get("/portal/staff/patients/{record_id}/results")
    async def chart_results(request: Request, record_id: str, purpose: str = "") -> Response:
        """A patient's results, as the staff member may see them."""
        return await _results(request, *await _chart(request, record_id, purpose))
