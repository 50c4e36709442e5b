"""The care team's pages: find a patient, open her chart, add to it, break the glass, open an app with it; and
the front desk.

Staff read and write through the guarded repository as themselves, for treatment (or
emergency treatment after break-glass, with the reason the patient will see). Whether
someone is staff is the door's own answer (`node.access.care_team`: an affiliation this
node attested, or the node itself).

Opening a SMART app from a chart (an EHR launch):

```
chart ─post (app, encounter)─► launch id (patient, encounter, staff member, app; once, minutes)
      ─303─► the app's launch_uri?iss=<FHIR base>&launch=<id> ─► /auth/authorize?launch=<id> … token: patient
```
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import segno
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.access import Accessor, IssuedCode, Repository
from careledger.consent import Purpose
from careledger.errors import AccessDenied, UnknownRecord, ValidationError
from careledger.identity import Client, web_origin
from careledger.portal._bookings import bookings, day_of
from careledger.portal._forms import MEASURES, note, observation, patient_resource
from careledger.portal._insight import chart_alerts
from careledger.portal._names import name_of
from careledger.portal._pages import Pages, field
from careledger.portal._session import Visit
from careledger.portal._views import line, person_name
from careledger.records import Draft, Resource, SearchQuery, search_query
from careledger.services import Services

if TYPE_CHECKING:
    from careledger.api import Caller

_MAX_FOUND = 50


async def staff_member(node: Services, visit: Visit) -> Caller:
    """The signed-in member of this node's care team; `AccessDenied` for anyone else."""
    caller = visit.signed_in
    if visit.is_patient or not await call(node.access.care_team, caller.address):
        raise AccessDenied("the staff pages are for this node's care team")
    return caller


def treating(caller: Caller, purpose: str = "") -> Accessor:
    """A staff member reading for treatment, or for emergency treatment (`ETREAT`, after break-glass)."""
    emergency = purpose == Purpose.ETREAT.value
    return Accessor(caller.address, Purpose.ETREAT if emergency else Purpose.TREAT, narrowing=caller.narrowing())


def staff_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The patient finder and the chart on `router`."""
    sessions = pages.sessions
    names = partial(name_of, node)

    @router.get("/portal/staff")
    async def find(request: Request, q: str = "") -> Response:
        """Find a patient by name or identifier (as you type, with htmx)."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        found: list[dict[str, Any]] = []
        if q.strip():
            name = "identifier" if any(ch.isdigit() for ch in q) else "name"
            query, _ = search_query("Patient", [(name, q.strip()[:80])], patient_address=None)
            found = (await call(node.access.for_caller(treating(caller)).search, query))[:_MAX_FOUND]
        rows = [(p["id"], person_name(p), p.get("birthDate", "")) for p in found]
        template = "_patients.html" if request.headers.get("hx-request") else "staff.html"
        return pages.render(request, visit, template, q=q, rows=rows)

    @router.get("/portal/staff/patients/{record_id}")
    async def chart(request: Request, record_id: str, purpose: str = "") -> Response:
        """A patient's chart as this staff member may see it, her consents, and the forms to add to it."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        reader = treating(caller, purpose)
        reader_door = node.access.for_caller(reader)
        person = await chart_patient(reader_door, record_id)
        found = await call(reader_door.search, SearchQuery(patient_id=record_id, sort=(("_lastUpdated", True),)))
        patient_address = await call(node.claiming.patient_of, record_id)
        grants = await call(node.consent.grants, patient=patient_address)
        claim = await call(node.claiming.status, patient_address)
        apps = await call(_launchable, node)
        today = day_of(datetime.now(pages.zone).date(), pages.zone)
        visits = await call(partial(bookings, patient_address=patient_address), node, reader_door, *today)
        alerts = await call(chart_alerts, node, reader_door, record_id)
        return pages.render(
            request,
            visit,
            "chart.html",
            record_id=record_id,
            name=person_name(person),
            person=person,
            lines=sorted((line(r) for r in found), key=lambda x: x.when, reverse=True),
            grants=grants,
            names=names,
            measures=MEASURES,
            emergency=reader.purpose == Purpose.ETREAT,
            claim=claim,
            apps=apps,
            encounters=_encounters(found),
            visits=visits,
            alerts=alerts,
            form_targets=_origins(apps),
        )


def chart_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """Adding to a chart, and break-glass, on `router`."""
    sessions = pages.sessions

    async def _add(request: Request, record_id: str, build: Callable[[dict[str, str], Caller], Resource]) -> Response:
        """Store what `build` makes of the posted form, as the staff member, then show the chart."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        made = build(await pages.form(request, visit), caller)
        await call(node.access.for_caller(treating(caller)).store, [Draft.of(made, None)])
        return pages.redirect(request, visit, f"/portal/staff/patients/{record_id}")

    @router.post("/portal/staff/patients/{record_id}/observations")
    async def add_observation(request: Request, record_id: str) -> Response:
        """Add a measurement to the chart."""
        return await _add(
            request,
            record_id,
            lambda form, _: observation(record_id, field(form, "measure", "What"), field(form, "value", "The value")),
        )

    @router.post("/portal/staff/patients/{record_id}/notes")
    async def add_note(request: Request, record_id: str) -> Response:
        """Add a clinical note to the chart."""
        return await _add(
            request,
            record_id,
            lambda form, caller: note(
                record_id, field(form, "note", "The note", max_chars=4000), author=caller.address
            ),
        )

    @router.post("/portal/staff/patients/{record_id}/break-glass")
    async def break_glass(request: Request, record_id: str) -> Response:
        """Open the chart in an emergency, with a reason the patient will see; recorded on chain."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        form = await pages.form(request, visit)
        patient_address = await call(node.claiming.patient_of, record_id)
        reason = field(form, "reason", "The reason", max_chars=500)
        await call(node.access.break_glass, caller.address, patient_address, reason)
        return pages.redirect(request, visit, f"/portal/staff/patients/{record_id}?purpose=ETREAT")

    @router.post("/portal/staff/patients/{record_id}/launch")
    async def launch(request: Request, record_id: str) -> Response:
        """Send the browser to an app with a new launch id for this chart (and the encounter chosen, if any):
        only a Patient she may open, with an encounter of that chart, both read through her own door first."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        form = await pages.form(request, visit)
        door = node.access.for_caller(treating(caller))
        await chart_patient(door, record_id)
        encounter = form.get("encounter", "").strip() or None
        if encounter is not None:
            found = await call(door.read, encounter[:64])
            subject = found.get("subject", {}).get("reference")
            if found.get("resourceType") != "Encounter" or subject != f"Patient/{record_id}":
                raise ValidationError("that is not an encounter of this patient")
        app = await call(node.clients.get, field(form, "app", "The app", max_chars=64))
        if not app.launch_uri:
            raise ValidationError(f"{app.name} declared no launch URI: it cannot be launched from a chart")
        launch_id = node.clients.launches.mint(app.client_id, caller.address, record_id, encounter)
        query = urlencode({"iss": str(request.base_url).rstrip("/"), "launch": launch_id})
        joiner = "&" if urlsplit(app.launch_uri).query else "?"
        return pages.redirect(request, visit, f"{app.launch_uri}{joiner}{query}")


def frontdesk_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The front desk on `router`: registering a patient without a wallet, and her claim code (a new one when
    hers expired, was burnt by wrong tries, or was lost)."""
    sessions = pages.sessions

    def code_page(request: Request, visit: Visit, name: str, record_id: str, issued: IssuedCode) -> Response:
        """The printable page of `issued`: the code, the claim link and its QR code."""
        link = f"{request.base_url}portal/claim?patient={record_id}"
        return pages.render(
            request,
            visit,
            "claim_code.html",
            name=name,
            record_id=record_id,
            code=issued.code,
            expires=datetime.fromtimestamp(issued.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
            link=link,
            qr=_qr(f"{link}#code={issued.code}"),
        )

    @router.get("/portal/frontdesk")
    async def frontdesk(request: Request) -> Response:
        """Register a patient who has no wallet yet."""
        visit = await sessions.visit(request)
        await staff_member(node, visit)
        return pages.render(request, visit, "frontdesk.html")

    @router.post("/portal/frontdesk")
    async def register(request: Request) -> Response:
        """Register her (a custodial identity the node holds) and print the code with which she claims it."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        form = await pages.form(request, visit)
        made = patient_resource(
            given=field(form, "given", "Given name"),
            family=field(form, "family", "Family name"),
            birth_date=field(form, "birth_date", "Birth date", max_chars=10),
            record_id=str(uuid.uuid4()),
        )
        (stored,) = await call(node.access.for_caller(treating(caller)).store, [Draft.of(made, None)])
        issued = await call(node.claiming.issue, stored.patient_address)
        name = f"{made['name'][0]['given'][0]} {made['name'][0]['family']}"
        return code_page(request, visit, name, stored.record_id, issued)

    @router.post("/portal/frontdesk/patients/{record_id}/claim-code")
    async def reissue(request: Request, record_id: str) -> Response:
        """A new claim code for a patient the node still holds, replacing her last (burnt, expired or lost)."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        await pages.form(request, visit)
        person = await call(node.access.for_caller(treating(caller)).read, record_id)
        issued = await call(node.claiming.issue, await call(node.claiming.patient_of, record_id))
        return code_page(request, visit, person_name(person), record_id, issued)


def _launchable(node: Services) -> list[Client]:
    """The registered apps that declared a launch URI: those a chart offers to open."""
    return [client for client in node.clients.list() if client.launch_uri]


async def chart_patient(door: Repository, record_id: str) -> Resource:
    """The Patient whose chart `record_id` names, read through the staff member's door: any other record is
    answered as an id she may not read is, saying nothing of what it is."""
    person = await call(door.read, record_id)
    if person.get("resourceType") != "Patient":
        raise UnknownRecord(record_id)
    return person


def _origins(apps: list[Client]) -> tuple[str, ...]:
    """Where the chart's launch form may send the browser on (its page's `form-action`): the apps' origins."""
    return tuple(sorted({origin for app in apps if (origin := web_origin(str(app.launch_uri))) is not None}))


def _encounters(found: list[Resource]) -> list[tuple[str, str, bool]]:
    """The chart's encounters to open an app with: id, a label, and whether it is open (chosen first)."""
    return [
        (str(r["id"]), f"{str(r.get('period', {}).get('start', ''))[:10]} {r.get('status', '')}".strip(), _open(r))
        for r in found
        if r.get("resourceType") == "Encounter"
    ]


def _open(encounter: Resource) -> bool:
    return encounter.get("status") == "in-progress" and not encounter.get("period", {}).get("end")


def _qr(text: str) -> str:
    """`text` as a QR code, an SVG data URI (the page's policy allows data images, not inline scripts)."""
    try:
        code = segno.make(text, error="m")
    except segno.DataOverflowError:
        raise ValidationError("the claim link is too long for a QR code") from None
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=6, border=2, dark="#000", light="#fff", title="Claim code")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
