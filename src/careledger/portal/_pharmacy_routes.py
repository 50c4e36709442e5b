"""The pharmacy's page: scan a pack, read the verdict, dispense it to a patient, quarantine a suspect one.

```
/portal/pharmacy ─scan (a keyboard-wedge scanner types the element string, then Enter)─► POST …/verify:
   the verdict: green "may be dispensed" (GTIN, serial, lot, expiry, holder) or red with the service's reason
   ─find her (name, identifier or patient id)─► POST …/patients ─pick, confirm─► POST …/dispense: the
   MedicationDispense's id and the chart it is in (a second scan of the pack: "already dispensed")
/portal/pharmacy ─pack + reason─► POST …/quarantine · POST …/release · the flagged stock (recalled, quarantined)
```

What may be dispensed, and who may ask, is the dispensary's word (`node.dispensary`): it audits every verify,
dispense and refusal; the page only carries the scan there. A scan and a patient travel in posted forms, never in
a URL (neither lands in a log or a browser's history). A scanner sends a GS1 DataMatrix's group separator as
the character `\\x1d`, or, set to spell it out, as `<GS>`, `{GS}`, `[GS]` or `^]` (what a keyboard wedge types
for Ctrl+], ASCII 29): `careledger.supplychain.parse_scan` reads each as the separator, as it does for the CLI and
the API.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool as call

from careledger.errors import CareLedgerError, Conflict, ValidationError, http_status
from careledger.portal._names import name_of
from careledger.portal._pages import Pages, field
from careledger.portal._session import Visit
from careledger.portal._staff_routes import treating
from careledger.portal._views import person_name
from careledger.records import Resource, SearchQuery, search_query
from careledger.services import Services
from careledger.supplychain import parse_scan

if TYPE_CHECKING:
    from careledger.api import Caller

GROUP_SEPARATOR = "\x1d"
MAX_SCAN = 300  # an element string or Digital Link URI with room to spare
MAX_FOUND = 20
# The fields a refusal's message starts with (`careledger.supplychain.parse_scan`'s and the dispensary's).
_FIELDS = {
    "gtin": "the GTIN",
    "serial": "the serial",
    "lot": "the lot",
    "expiry": "the expiry",
    "sscc": "the SSCC",
    "element string": "the element string",
    "scan": "the scan",
    "reason": "reason",
}
_RECORD_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def scanned(form: dict[str, str]) -> str:
    """The posted scan, as typed (a spelled-out separator is read by `parse_scan`); `ValidationError` naming the
    field."""
    return field(form, "scan", "The scan", max_chars=MAX_SCAN)


def shown_scan(scan: str) -> str:
    """A scan as the field shows it again: the group separator spelled `<GS>`, which the page reads back."""
    return scan.replace(GROUP_SEPARATOR, "<GS>")


def faulty_field(message: str) -> str:
    """The field of a scan (or form) a refusal names, as the page labels it: GS1's refusals start with it."""
    named, colon, _ = message.partition(":")
    return _FIELDS.get(named.strip().lower(), "") if colon else ""


class _Counter:
    """What the pharmacy's routes share: who may use them, and the page they answer with."""

    def __init__(self, node: Services, pages: Pages) -> None:
        self.node = node
        self.pages = pages
        self._names = partial(name_of, node)

    async def pharmacist(self, request: Request, action: str) -> tuple[Visit, Caller]:
        """The visit of a signed-in member of the pharmacy's staff; anyone else refused (`AccessDenied`) and audited
        as trying `action`, by the dispensary's own check, before anything of the page (its stock) is shown."""
        visit = await self.pages.sessions.visit(request)
        caller = visit.signed_in
        await call(self.node.dispensary.staff, caller.address, action)
        return visit, caller

    async def page(
        self, request: Request, visit: Visit, *, status: int = 200, stock: bool = False, **context: Any
    ) -> Response:
        """The pharmacy's page with `context` (a verdict, patients found, a dispense, an error); with the flagged
        `stock` only when asked (the page itself): it asks the chain about the flagged packs, which a scan's answer
        need not wait for."""
        caller = visit.signed_in.address
        flagged = await call(self.node.dispensary.stock, by=caller, flagged_only=True) if stock else None
        return self.pages.render(
            request, visit, "pharmacy.html", status=status, flagged=flagged, name=self._names, **context
        )

    async def refused(
        self, request: Request, visit: Visit, error: CareLedgerError, form: str, **context: Any
    ) -> Response:
        """The page again with what `form` posted kept, saying what is wrong and, for a field, which (400); a
        dispense the dispensary refused says why (409)."""
        status, _ = http_status(error)
        fault = faulty_field(error.public)
        return await self.page(request, visit, status=status, error=error.public, fault=fault, form=form, **context)


def pharmacy_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The pharmacy's page, its counter (verify, dispense) and its stock (quarantine, release) on `router`."""
    counter = _Counter(node, pages)
    _counter_routes(router, counter)
    _stock_routes(router, counter)


def _counter_routes(router: APIRouter, counter: _Counter) -> None:
    """The page, verify and dispense."""
    node, pages = counter.node, counter.pages

    @router.get("/portal/pharmacy")
    async def pharmacy(request: Request) -> Response:
        """The scan field (the scanner types into it), the quarantine form and the flagged stock."""
        visit, _ = await counter.pharmacist(request, "supply.stock")
        return await counter.page(request, visit, stock=True)

    @router.post("/portal/pharmacy/verify")
    async def verify(request: Request) -> Response:
        """Whether the scanned pack may be dispensed here, and if not why; a malformed scan kept, its fault named."""
        visit, caller = await counter.pharmacist(request, "supply.verify")
        form = await pages.form(request, visit)
        try:
            scan = scanned(form)
            verdict = await call(node.dispensary.verify, scan, by=caller.address)
        except ValidationError as exc:
            kept = shown_scan(form.get("scan", "")[:MAX_SCAN])
            return await counter.refused(request, visit, exc, "verify", scan=kept)
        return await counter.page(request, visit, verdict=verdict, checked=shown_scan(scan))

    @router.post("/portal/pharmacy/patients")
    async def patients(request: Request) -> Response:
        """The patients whose name, identifier or patient number the pharmacist typed, to pick one to dispense the
        scanned pack to (as she types, with htmx; else the page again)."""
        visit, caller = await counter.pharmacist(request, "supply.dispense")
        form = await pages.form(request, visit)
        scan = scanned(form)
        wanted = form.get("q", "").strip()[:80]
        found = await call(_patients, node, caller, wanted) if wanted else []
        rows = [(p["id"], person_name(p), p.get("birthDate", "")) for p in found]
        if request.headers.get("hx-request"):
            return pages.render(request, visit, "_pharmacy_patients.html", rows=rows, q=wanted)
        choosing = parse_scan(scan)
        return await counter.page(request, visit, choosing=choosing, checked=shown_scan(scan), rows=rows, q=wanted)

    @router.post("/portal/pharmacy/dispense")
    async def dispense(request: Request) -> Response:
        """Dispense the scanned pack to the patient picked: her MedicationDispense, and the pack off the chain; a
        refusal (the verdict's reason) on the page, the pack kept."""
        visit, caller = await counter.pharmacist(request, "supply.dispense")
        form = await pages.form(request, visit)
        scan = scanned(form)
        kept = {"checked": shown_scan(scan), "q": form.get("q", "")[:80]}
        try:
            patient = field(form, "patient", "The patient (find her, then pick her)", max_chars=64)
            done = await call(node.dispensary.dispense, scan, patient, treating(caller), by=caller.address)
        except ValidationError as exc:  # no patient picked: pick her, the pack kept
            return await counter.refused(request, visit, exc, "dispense", choosing=parse_scan(scan), **kept)
        except Conflict as exc:  # the verdict refuses it now (dispensed meanwhile, recalled, …)
            return await counter.refused(request, visit, exc, "dispense")
        return await counter.page(request, visit, dispensed=done, patient=patient)


def _stock_routes(router: APIRouter, counter: _Counter) -> None:
    """Quarantine and release."""
    node, pages = counter.node, counter.pages

    @router.post("/portal/pharmacy/quarantine")
    async def quarantine(request: Request) -> Response:
        """Set a suspect pack aside, with the reason, until it is released: no verify says it may be dispensed."""
        visit, caller = await counter.pharmacist(request, "supply.quarantine")
        form = await pages.form(request, visit)
        scan, reason = scanned(form), form.get("reason", "")[:500]
        try:
            await call(node.dispensary.quarantine, scan, reason, by=caller.address)
        except ValidationError as exc:
            kept = {"scan": shown_scan(scan), "reason": reason}
            return await counter.refused(request, visit, exc, "quarantine", **kept)
        return pages.redirect(request, visit, "/portal/pharmacy#flagged")

    @router.post("/portal/pharmacy/release")
    async def release(request: Request) -> Response:
        """Release a quarantined pack: verify judges it again as any other."""
        visit, caller = await counter.pharmacist(request, "supply.release")
        scan = scanned(await pages.form(request, visit))
        await call(node.dispensary.release, scan, by=caller.address)
        return pages.redirect(request, visit, "/portal/pharmacy#flagged")


def _patients(node: Services, caller: Caller, wanted: str) -> list[Resource]:
    """The Patients the staff member may see whose id is `wanted`, or (else) whose identifier or name it is."""
    door = node.access.for_caller(treating(caller))
    if _RECORD_ID.fullmatch(wanted):
        found = door.search(SearchQuery(resource_type="Patient", record_ids=(wanted,)))
        if found:
            return found
    name = "identifier" if any(ch.isdigit() for ch in wanted) else "name"
    query, _ = search_query("Patient", [(name, wanted)], patient_address=None)
    return door.search(query)[:MAX_FOUND]
