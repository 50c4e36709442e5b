"""A medication list and lab results as a patient (or her clinician) reads them: names not references, doses in
words, values with printed units, reference ranges, and high/low flags in words as well as colour.

A pack a pharmacy dispensed (a MedicationDispense, as `supplychain` writes it) is listed with its lot and expiry
and the pharmacy that handed it over; it is current for its days' supply (else `DISPENSE_DAYS`) after it was
handed over, and while a recall notice (an alert Communication `about` it) asks her to bring it back.

Pure functions of the resources the page read through its caller's door, and of a `Namer`
that names the references among them (`_names.reference_names`). A flag comes from the
result's own `interpretation`; only when there is none is it computed from the reference
range, and then it says "outside range" rather than claim a clinical judgement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from careledger.portal._formats import quantity
from careledger.portal._names import resource_name
from careledger.portal._views import describe, title, when
from careledger.records import Resource
from careledger.supplychain import EXPIRY_EXTENSION, GTIN_SYSTEM, LOT_EXTENSION

Namer = Callable[[Any], str]
"""Names a FHIR Reference (or a list of them) as the page's reader knows what it points to."""

# v3 ObservationInterpretation codes in words, and the flag's kind (its colour and mark on the page).
_INTERPRETATIONS = {
    "H": ("High", "high"),
    "HU": ("Significantly high", "high"),
    "HH": ("Critically high", "critical"),
    "L": ("Low", "low"),
    "LU": ("Significantly low", "low"),
    "LL": ("Critically low", "critical"),
    "A": ("Abnormal", "abnormal"),
    "AA": ("Critically abnormal", "critical"),
    "N": ("Normal", "normal"),
    ">": ("Above the measurable range", "high"),
    "<": ("Below the measurable range", "low"),
}
MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationDispense")
NOTICE_TYPES = ("Communication",)
NOTICE_CATEGORY = "alert"  # a recall notice's Communication category (communication-category)
DISPENSE_DAYS = 90  # a dispense that does not say its days' supply is taken as current this long: 3 months' packs
RESULT_TYPES = ("DiagnosticReport", "Observation")
_DASH = "\N{EN DASH}"
_CURRENT = frozenset({"active", "on-hold", "intended"})
_DISPENSED = frozenset({"preparation", "in-progress", "on-hold", "completed"})
_PERIODS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}
_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times"}


@dataclass(frozen=True, slots=True)
class Flag:
    """How a result stands: words ('High', 'Outside range (low)'), a kind for its mark, and whether the node
    worked it out from the range (no interpretation given) rather than the lab saying so."""

    words: str
    kind: str
    computed: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """One result (or one component of a panel, as blood pressure's systolic), ready to print."""

    record_id: str
    name: str
    value: str
    when: str
    range: str
    flag: Flag | None
    status: str
    parts: tuple[Result, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """A diagnostic report and the results it reports (those the reader may see)."""

    record_id: str
    name: str
    when: str
    issued: str
    status: str
    performer: str
    conclusion: str
    results: tuple[Result, ...]


@dataclass(frozen=True, slots=True)
class Medicine:
    """One line of a medication list: a prescription (MedicationRequest), a reported medication (Statement), or
    a pack dispensed (MedicationDispense: its lot, its expiry, and the recall notice about it, if any)."""

    record_id: str
    name: str
    dose: str
    when: str
    status: str
    current: bool
    source: str
    reason: str
    lot: str = ""
    expiry: str = ""
    recall: str = ""


def medications(resources: Iterable[Resource], name: Namer, now: datetime | None = None) -> list[Medicine]:
    """The MedicationRequests, MedicationStatements and MedicationDispenses among `resources`, recalled ones
    first, then current ones, newest first; those entered in error left out. A dispense is recalled when an
    alert Communication among `resources` is `about` it; current is judged at `now` (the clock's time)."""
    shown = [r for r in resources if r.get("status") != "entered-in-error"]
    recalls = _recalls(shown)
    at = now or datetime.now(UTC)
    found = [
        _dispensed(r, name, recalls.get(str(r.get("id")), ""), at)
        if r.get("resourceType") == "MedicationDispense"
        else _medicine(r, name)
        for r in shown
        if r.get("resourceType") in MEDICATION_TYPES
    ]
    found.sort(key=lambda m: m.when, reverse=True)
    return sorted(found, key=lambda m: (not m.current, not m.recall))


def results(resources: Iterable[Resource], name: Namer) -> tuple[list[Report], list[Result]]:
    """The DiagnosticReports among `resources` with their results, and the Observations no report holds,
    each list newest first; those entered in error left out."""
    shown = [r for r in resources if r.get("status") != "entered-in-error"]
    observations = {f"Observation/{r.get('id')}": r for r in shown if r.get("resourceType") == "Observation"}
    reports: list[Report] = []
    reported: set[str] = set()
    for resource in shown:
        if resource.get("resourceType") != "DiagnosticReport":
            continue
        held = [ref for item in resource.get("result", []) if (ref := _reference(item)) in observations]
        reported.update(held)
        reports.append(_report(resource, [result(observations[ref]) for ref in held], name))
    alone = [result(o) for ref, o in observations.items() if ref not in reported]
    return sorted(reports, key=lambda r: r.when, reverse=True), sorted(alone, key=lambda r: r.when, reverse=True)


def result(observation: Resource) -> Result:
    """An Observation (or one of its components) as a printed result."""
    value = _value(observation)
    ranges = [r for r in observation.get("referenceRange", []) if isinstance(r, dict)]
    parts = tuple(
        result({**c, "id": observation.get("id"), "effectiveDateTime": when(observation)})
        for c in observation.get("component", [])
        if isinstance(c, dict)
    )
    return Result(
        record_id=str(observation.get("id", "")),
        name=title(observation) if "resourceType" in observation else describe(observation.get("code", {})),
        value=value,
        when=when(observation),
        range="; ".join(filter(None, (reference_range(r) for r in ranges))),
        flag=flag(observation),
        status=str(observation.get("status", "")),
        parts=parts,
    )


def reference_range(found: dict[str, Any]) -> str:
    """A referenceRange as printed: '70 to 180 mg/dL' (with an en dash), '≥ 60 mL/min', '≤ 5.6 %', its text, and
    whom it applies to."""
    low, high = quantity(found.get("low")), quantity(found.get("high"))
    if low and high:
        low_number = str(found["low"]["value"])
        bounds = f"{low_number}{_DASH}{high}" if _same_unit(found["low"], found["high"]) else f"{low}{_DASH}{high}"
    else:
        bounds = f"≥ {low}" if low else f"≤ {high}" if high else ""
    text = str(found.get("text") or "")
    words = ", ".join(filter(None, (bounds, text if text != bounds else "")))
    applies = describe(found.get("appliesTo", [])) or describe(found.get("age", {}))
    return f"{words} ({applies})" if words and applies else words


def flag(observation: Resource) -> Flag | None:
    """The result's interpretation in words, else, for a number outside its first reference range in the same
    unit, 'Outside range (low|high)'; None when neither says anything."""
    for concept in observation.get("interpretation", []):
        if not isinstance(concept, dict):
            continue
        codes = [c.get("code") for c in concept.get("coding", []) if isinstance(c, dict)]
        known = next((_INTERPRETATIONS[c] for c in codes if c in _INTERPRETATIONS), None)
        if known is not None:
            return Flag(*known)
        if describe(concept):
            return Flag(describe(concept), "abnormal")
    return _outside_range(observation)


def dose(dosages: Any) -> str:
    """Dosage instructions as people read them: their text, else '1 tablet, twice a day, as needed, oral'."""
    if not isinstance(dosages, list):
        return ""
    return "; then ".join(filter(None, (_dosage(d) for d in dosages if isinstance(d, dict))))


def _medicine(resource: Resource, name: Namer) -> Medicine:
    medicine = resource.get("medicationCodeableConcept")
    reference = resource.get("medicationReference")
    named = describe(medicine) if medicine else _contained(resource, reference) or name(reference)
    prescription = resource.get("resourceType") == "MedicationRequest"
    who = name(resource.get("requester") if prescription else resource.get("informationSource"))
    said = "Prescribed" if prescription else "Reported"
    source = f"{said} by {who}" if who else said
    status = str(resource.get("status", ""))
    reasons = [describe(resource.get("reasonCode", [])), name(resource.get("reasonReference", []))]
    return Medicine(
        record_id=str(resource.get("id", "")),
        name=named or "(medication not named)",
        dose=dose(resource.get("dosageInstruction" if prescription else "dosage")),
        when=_started(resource),
        status=status.replace("-", " "),
        current=status in _CURRENT,
        source=source,
        reason="; ".join(filter(None, reasons)),
    )


def _dispensed(dispense: Resource, name: Namer, recall: str, now: datetime) -> Medicine:
    """A MedicationDispense as a line of her list: current for its days' supply after it was handed over (one
    in preparation is current), or while `recall` (the id of a recall notice about it) asks for it back."""
    medicine = dispense.get("medicationCodeableConcept")
    reference = dispense.get("medicationReference")
    named = _product(medicine) if isinstance(medicine, dict) else _contained(dispense, reference) or name(reference)
    performers = [p.get("actor") for p in dispense.get("performer", []) if isinstance(p, dict)]
    who = "; ".join(filter(None, (name(actor) for actor in performers)))
    where = name(dispense.get("location"))
    status = str(dispense.get("status", ""))
    handed = str(dispense.get("whenHandedOver") or dispense.get("whenPrepared") or "")
    extensions = [e for e in dispense.get("extension", []) if isinstance(e, dict)]
    return Medicine(
        record_id=str(dispense.get("id", "")),
        name=named or "(medication not named)",
        dose=dose(dispense.get("dosageInstruction")),
        when=handed or when(dispense),
        status="dispensed" if status == "completed" else status.replace("-", " "),
        current=bool(recall) or (status in _DISPENSED and (not handed or now - _moment(handed) < _supply(dispense))),
        source=" at ".join(filter(None, (f"Dispensed by {who}" if who else "Dispensed", where))),
        reason="",
        lot=next((str(e.get("valueString")) for e in extensions if e.get("url") == LOT_EXTENSION), ""),
        expiry=next((str(e.get("valueDate")) for e in extensions if e.get("url") == EXPIRY_EXTENSION), ""),
        recall=recall,
    )


def _supply(dispense: Resource) -> timedelta:
    """How long a dispense lasts: its days' supply (at most a century), else `DISPENSE_DAYS`."""
    supply = dispense.get("daysSupply")
    days = supply.get("value") if isinstance(supply, dict) else None
    return timedelta(days=min(max(days, 0), 36_525) if isinstance(days, int | float) else DISPENSE_DAYS)


def _product(medicine: dict[str, Any]) -> str:
    """A dispensed product's name: a coding's display (the GTIN's first), else the concept's text, else 'GTIN …'."""
    codings = [c for c in medicine.get("coding", []) if isinstance(c, dict)]
    gtins = [c for c in codings if c.get("system") == GTIN_SYSTEM]
    shown = next((str(c["display"]) for c in (*gtins, *codings) if c.get("display")), "")
    return shown or str(medicine.get("text") or "") or next((f"GTIN {c.get('code')}" for c in gtins), "")


def _recalls(resources: Iterable[Resource]) -> dict[str, str]:
    """The MedicationDispenses (by id) an alert Communication among `resources` is `about`: each one's notice."""
    found: dict[str, str] = {}
    for notice in resources:
        if notice.get("resourceType") != "Communication" or NOTICE_CATEGORY not in _codes(notice.get("category")):
            continue
        for about in notice.get("about", []):
            kind, _, record_id = _reference(about).partition("/")
            if kind == "MedicationDispense" and record_id:
                found.setdefault(record_id, str(notice.get("id", "")))
    return found


def _codes(concepts: Any) -> set[str]:
    """The codes of a list of CodeableConcepts."""
    found = [c for c in concepts if isinstance(c, dict)] if isinstance(concepts, list) else []
    return {str(coding.get("code")) for c in found for coding in c.get("coding", []) if isinstance(coding, dict)}


def _moment(text: str) -> datetime:
    """A FHIR dateTime (a year, a month, a day, or an instant) as an aware datetime, its start; a zone-less one
    taken as UTC; one that cannot be read as the start of time (never current)."""
    try:
        at = datetime.fromisoformat(text if len(text) > 10 else (text + "-01-01")[:10])
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _contained(resource: Resource, reference: Any) -> str:
    """The name of the medication a `#id` reference finds among the resource's contained ones; '' if none."""
    target = str(reference.get("reference", "")) if isinstance(reference, dict) else ""
    for inner in resource.get("contained", []) if target.startswith("#") else []:
        if isinstance(inner, dict) and inner.get("id") == target[1:]:
            return resource_name(inner)
    return ""


def _started(resource: Resource) -> str:
    """When a prescription was written, or since when a reported medication is taken (else when it was said)."""
    if resource.keys().isdisjoint({"effectiveDateTime", "effectivePeriod"}) and resource.get("dateAsserted"):
        return str(resource["dateAsserted"])
    return when(resource)


def _report(report: Resource, found: list[Result], name: Namer) -> Report:
    return Report(
        record_id=str(report.get("id", "")),
        name=title(report),
        when=when(report),
        issued=str(report.get("issued", "")),
        status=str(report.get("status", "")),
        performer=name(report.get("performer", [])),
        conclusion=str(report.get("conclusion") or describe(report.get("conclusionCode", []))),
        results=tuple(found),
    )


def _value(observation: Resource) -> str:
    """What was found, as printed: a quantity with its unit, a coded answer's words, text, yes/no."""
    for key, value in observation.items():
        if not key.startswith("value") or value is None:
            continue
        if key == "valueQuantity":
            return quantity(value)
        if key == "valueBoolean":
            return "Yes" if value else "No"
        if key == "valueRange" and isinstance(value, dict):
            return reference_range({"low": value.get("low"), "high": value.get("high")})
        return describe(value)
    absent = observation.get("dataAbsentReason")
    return f"No value: {describe(absent).lower()}" if absent else ""


def _outside_range(observation: Resource) -> Flag | None:
    found = observation.get("valueQuantity")
    ranges = observation.get("referenceRange") or [{}]
    if not isinstance(found, dict) or found.get("comparator") or not isinstance(ranges[0], dict):
        return None
    if not isinstance(found.get("value"), int | float):
        return None
    number = found["value"]
    for side, beyond in (("low", number.__lt__), ("high", number.__gt__)):
        bound = ranges[0].get(side)
        if not isinstance(bound, dict) or not isinstance(bound.get("value"), int | float):
            continue
        if _same_unit(found, bound) and beyond(bound["value"]):
            return Flag(f"Outside range ({side})", side, computed=True)
    return None


def _same_unit(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two quantities are in one unit (a bound without a unit is taken to be in the value's)."""
    first, second = one.get("code") or one.get("unit"), other.get("code") or other.get("unit")
    return not first or not second or first == second


def _dosage(dosage: dict[str, Any]) -> str:
    if dosage.get("text"):
        return str(dosage["text"])
    amounts = [a for a in dosage.get("doseAndRate", []) if isinstance(a, dict)]
    amount = ""
    if amounts:
        given = amounts[0]
        amount = quantity(given.get("doseQuantity")) or _value({"valueRange": given.get("doseRange")})
    as_needed = "as needed" if dosage.get("asNeededBoolean") else ""
    if dosage.get("asNeededCodeableConcept"):
        as_needed = f"as needed for {describe(dosage['asNeededCodeableConcept']).lower()}"
    parts = [amount, _frequency(dosage.get("timing")), as_needed, describe(dosage.get("route", {})).lower()]
    return ", ".join(p for p in parts if p)


def _frequency(timing: Any) -> str:
    """A Timing as 'twice a day', 'every 8 hours', '3 times every 2 days'; its code's words if it has no repeat."""
    if not isinstance(timing, dict):
        return ""
    repeat = timing.get("repeat")
    if not isinstance(repeat, dict) or repeat.get("periodUnit") not in _PERIODS:
        return describe(timing.get("code", {}))
    unit = _PERIODS[repeat["periodUnit"]]
    times, period = repeat.get("frequency", 1), repeat.get("period", 1)
    count = _TIMES.get(times, f"{times} times")
    if period == 1:
        return f"{count} a {unit}"
    every = f"every {period} {unit}s"
    return every if times == 1 else f"{count} {every}"


def _reference(item: Any) -> str:
    return str(item.get("reference", "")) if isinstance(item, dict) else ""
