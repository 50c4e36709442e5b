"""Visits: a patient finds a slot, sees what it costs her, signs the visit's consent and the fee's permit in the page,
and books; her visits to come, with the way into their rooms; and the care team's visits of the day.

```
find      her door ─► node.scheduling.find ─► open slots, soonest first
book page her door ─► node.visits.quote ─► the fee, what her plan covers, what she pays
prepare   node.visits.prepare_book ─► the slot held; typed data: the consent, the escrow's terms and permit
          ─► her wallet signs each in the page (portal.js) ─► posted to the held Appointment's `book`
book      node.visits.book ─► signatures checked, the fee held in escrow, the consent granted, the slot booked
```

The service decides and does everything (who may book, what she signs, what is held): these routes only read
the forms and show the answers, through the caller's own door.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call
from fastapi.responses import JSONResponse

from careledger.access import Repository
from careledger.consent import SignedConsent, parse_categories
from careledger.errors import ValidationError
from careledger.portal._bookings import bookings, day_of
from careledger.portal._names import reference_names
from careledger.portal._pages import HEADERS, Pages, field
from careledger.portal._patient_routes import as_herself, own_patient_id, patient
from careledger.portal._session import Visit
from careledger.portal._signing import for_javascript, signed_parts
from careledger.portal._staff_routes import staff_member, treating
from careledger.records import Category, search_query
from careledger.services import Services
from careledger.telehealth import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_FIND_DAYS,
    VisitSignatures,
    practitioner_of,
    service_class,
    visit_mode,
)

_FIND_DAYS = 14  # what the find page looks through unless told
_AHEAD = timedelta(days=366)  # how far ahead her list of visits looks
_UNDER_WAY = timedelta(days=1)  # and how far back, for one under way
_ID = 64


def visit_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The patient's visit pages on `router`: `/portal/visits`, finding a slot, what booking it costs her."""
    _herself = partial(_patient_door, node, pages)

    @router.get("/portal/visits")
    async def upcoming(request: Request, booked: str = "") -> Response:
        """Her visits to come (and any under way), soonest first, each with its room once it opens."""
        visit, door = await _herself(request)
        now, her = datetime.now(UTC), door.accessor.address
        found = await call(partial(bookings, patient_address=her), node, door, now - _UNDER_WAY, now + _AHEAD)
        return pages.render(request, visit, "visits.html", bookings=found, booked=booked[:_ID])

    @router.get("/portal/visits/find")
    async def find(
        request: Request, practitioner: str = "", service: str = "", start: str = "", end: str = ""
    ) -> Response:
        """Open slots by practitioner, service and dates (in the node's time zone), soonest first."""
        visit, door = await _herself(request)
        first = _date(start, "From", datetime.now(pages.zone).date())
        last = _date(end, "Until", first + timedelta(days=_FIND_DAYS))
        if not first <= last < first + timedelta(days=MAX_FIND_DAYS):
            raise ValidationError(f"'Until' is on or after 'From', and less than {MAX_FIND_DAYS} days after it")
        begin = day_of(first, pages.zone)[0]
        finish = min(day_of(last, pages.zone)[1], begin + timedelta(days=MAX_FIND_DAYS))  # a clock change's hour
        who, what = practitioner[:_ID] or None, service[:40] or None
        found = await call(node.scheduling.find, door, begin, finish, practitioner=who, service_type=what)
        offers = await call(_offers, node, door)
        name = await call(reference_names, node, door, [o.schedule for o in found])
        context: dict[str, Any] = {
            "openings": [(o, name({"reference": practitioner_of(o.schedule)})) for o in found],
            "practitioners": offers[0],
            "services": offers[1],
            "chosen": {"practitioner": practitioner, "service": service, "start": first, "end": last},
            "mode_of": visit_mode,
            "service_of": service_class,
        }
        return pages.render(request, visit, "find.html", **context)

    @router.get("/portal/visits/book")
    async def book_page(request: Request, slot: str) -> Response:
        """The slot, what it costs her (her plan's answer), and what she signs to book it."""
        visit, door = await _herself(request)
        opening = await call(node.scheduling.opening, door, slot[:_ID])
        quote = await call(node.visits.quote, door, await call(own_patient_id, door), slot[:_ID])
        name = await call(reference_names, node, door, [opening.schedule])
        context: dict[str, Any] = {
            "opening": opening,
            "practitioner": name({"reference": practitioner_of(opening.schedule)}),
            "service": service_class(opening.schedule),
            "mode": visit_mode(opening.slot),
            "quote": quote,
            "care": await call(_care, node),
            "categories": list(Category),
        }
        return pages.render(request, visit, "book.html", **context)


def booking_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """Booking and cancelling a visit on `router`: what her wallet signs, and what the node does with it."""
    _herself = partial(_patient_door, node, pages)

    @router.post("/portal/visits/prepare")
    async def prepare(request: Request) -> Response:
        """Hold the slot for her, and the typed data her wallet signs to book it (and where to post them)."""
        visit, door = await _herself(request)
        form = await pages.form(request, visit)
        slot = field(form, "slot", "The slot", max_chars=_ID)
        categories = parse_categories(field(form, "categories", "At least one kind of record", max_chars=400))
        offer = await call(node.visits.prepare_book, door, slot, await call(own_patient_id, door), categories)
        parts = {"consent": offer.consent, **(offer.payment or {})}
        then = f"/portal/visits/{offer.appointment['id']}/book"
        return JSONResponse({**for_javascript(parts), "then": then}, headers=HEADERS)

    @router.post("/portal/visits/{appointment_id}/book")
    async def book(request: Request, appointment_id: str) -> Response:
        """Book the held visit with what her wallet signed: the fee held, the consent granted, the slot hers."""
        visit, door = await _herself(request)
        form = await pages.form(request, visit)
        paid = ("terms", "permit") if "typed_terms" in form else ()
        typed, signatures = signed_parts(form, ("consent", *paid))
        consent = SignedConsent.from_typed_data(typed["consent"], signatures["consent"])
        signed = VisitSignatures(consent, typed.get("terms"), signatures.get("terms"), signatures.get("permit"))
        await call(node.visits.book, door, appointment_id[:_ID], signed)
        return pages.redirect(request, visit, f"/portal/visits?booked={appointment_id[:_ID]}")

    @router.post("/portal/visits/{appointment_id}/cancel")
    async def cancel(request: Request, appointment_id: str) -> Response:
        """Cancel her visit before it starts: the slot freed, the fee refunded."""
        visit, door = await _herself(request)
        await pages.form(request, visit)
        await call(node.visits.cancel, door, appointment_id[:_ID], "cancelled by the patient")
        return pages.redirect(request, visit, "/portal/visits")


async def _patient_door(node: Services, pages: Pages, request: Request) -> tuple[Visit, Repository]:
    """The signed-in patient's visit and her own door."""
    visit = await pages.sessions.visit(request)
    return visit, node.access.for_caller(as_herself(patient(visit)))


def staff_visit_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The care team's day on `router`: `/portal/staff/visits`."""
    sessions = pages.sessions

    @router.get("/portal/staff/visits")
    async def today(request: Request) -> Response:
        """Today's visits (in the node's time zone) the staff member may see: whose, with whom, their rooms."""
        visit = await sessions.visit(request)
        caller = await staff_member(node, visit)
        door = node.access.for_caller(treating(caller))
        day = datetime.now(pages.zone).date()
        found = await call(bookings, node, door, *day_of(day, pages.zone))
        return pages.render(request, visit, "staff_visits.html", bookings=found, day=day.isoformat())


def _offers(node: Services, door: Repository) -> tuple[list[tuple[str, str]], list[str]]:
    """Whom and what the find page offers to choose: the practitioners and service classes of active Schedules."""
    query, _ = search_query("Schedule", [("active", "true")], patient_address=None)
    schedules = door.search(query)
    name = reference_names(node, door, schedules)
    practitioners = {ref: name({"reference": ref}) for s in schedules if (ref := practitioner_of(s))}
    services = sorted({kind.label for s in schedules if (kind := service_class(s)) is not None})
    chosen = [(ref.removeprefix("Practitioner/"), named) for ref, named in practitioners.items()]
    return sorted(chosen, key=lambda p: p[1]), services


def _care(node: Services) -> Callable[[int], str]:
    """Amounts of the token's base units as written: '12.5 CARE'."""
    money = node.payments.currency()
    return lambda units: f"{money(units)['value']} {money.symbol}".strip()


def _date(text: str, label: str, default: date) -> date:
    """A date the find form gives (YYYY-MM-DD), else `default`."""
    if not text.strip():
        return default
    try:
        day = date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValidationError(f"'{label}' is a date written YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValidationError(f"'{label}' is a date in the years {FIRST_YEAR} to {LAST_YEAR}")
    return day
