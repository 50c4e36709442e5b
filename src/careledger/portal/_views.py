"""FHIR resources as people read them: a line on a timeline, a page of labelled fields, points on a chart.

Pure functions of the resources (no I/O), so that a page shows whatever a FHIR client
stored, not only what our own forms write: unknown elements still show, by their names.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from careledger.portal._formats import quantity
from careledger.records import Resource, categorise
from careledger.telehealth import text_of

# Where each kind of resource says when it happened, first match wins.
_WHEN = (
    "effectiveDateTime",
    "effectivePeriod",
    "issued",
    "onsetDateTime",
    "recordedDate",
    "authoredOn",
    "occurrenceDateTime",
    "performedDateTime",
    "performedPeriod",
    "period",
    "created",
    "date",
    "sent",
    "birthDate",
)
_WHAT = ("code", "medicationCodeableConcept", "vaccineCode", "type", "category", "reasonCode")
# Plumbing a reader does not need: identity, links, the narrative (shown by the other fields).
_HIDDEN = frozenset({"resourceType", "id", "meta", "text", "contained", "extension", "modifierExtension"})
# What an audit entry's interaction means, for the person whose records it touched.
_INTERACTIONS = {
    "read": "read",
    "vread": "read an earlier version of",
    "search-type": "searched and saw",
    "history-instance": "read the history of",
    "history-type": "read the history of",
    "create": "added",
    "update": "changed",
    "delete": "deleted",
    "break-glass": "broke the glass to",
    "share": "sent to another node",
    "receive": "received from another node",
    "export": "exported",
    "everything": "read everything in",
    "claim-code": "issued a claim code for",
    "claim-code-burnt": "voided, after too many wrong tries, the claim code for",
    "claim": "claimed",
    "accounting": "asked for the accounting of",
    "emergencies": "asked for the emergency accesses to",
    "device-reading": "sent readings into",
}
_MAX_DEPTH = 4
_MAX_TEXT = 2_000


@dataclass(frozen=True, slots=True)
class Line:
    """One record on a timeline."""

    record_id: str
    resource_type: str
    category: str
    when: str
    title: str
    detail: str


def line(resource: Resource) -> Line:
    """`resource` as one line of a timeline."""
    return Line(
        record_id=str(resource.get("id", "")),
        resource_type=str(resource.get("resourceType", "")),
        category=categorise(resource).value,
        when=when(resource),
        title=title(resource),
        detail=detail(resource),
    )


def when(resource: Resource) -> str:
    """When it happened (the date a reader expects), else when it was last stored."""
    for name in _WHEN:
        if name in resource:
            value = resource[name]
            return str(value.get("start", "") if isinstance(value, dict) else value)
    return str(resource.get("meta", {}).get("lastUpdated", ""))


def title(resource: Resource) -> str:
    """What it is: its code's words, else its kind."""
    if resource.get("resourceType") == "Patient":
        return "Patient: " + (person_name(resource) or "(no name)")
    for name in _WHAT:
        if name in resource:
            text = describe(resource[name])
            if text:
                return text
    return words(str(resource.get("resourceType", "Record")))


def detail(resource: Resource) -> str:
    """Its value or status in a few words."""
    for name, value in resource.items():
        if name.startswith("value"):
            return describe(value)
    if "component" in resource:
        return "; ".join(_component(c) for c in resource["component"] if isinstance(c, dict))
    if "content" in resource and resource.get("resourceType") == "DocumentReference":
        return describe(resource["content"])[:160]
    if resource.get("resourceType") == "Communication" and text_of(resource):  # a message, an alert: what it says
        return text_of(resource)[:_MAX_TEXT]
    return str(resource.get("status", ""))


def fields(resource: Resource) -> list[tuple[str, str]]:
    """Every element a reader cares about, labelled in words, values described."""
    return [(words(name), describe(value)) for name, value in resource.items() if name not in _HIDDEN]


def person_name(resource: Resource) -> str:
    """A Patient's or Practitioner's first name, as written."""
    names = resource.get("name") or []
    return describe(names[0]) if names else ""


def describe(value: Any, depth: int = 0) -> str:
    """Any FHIR value in words: codes by their display, quantities with units, references by what they name."""
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, list):
        return "; ".join(describe(item, depth + 1) for item in value)
    if not isinstance(value, dict):
        return str(value)[:_MAX_TEXT]
    if isinstance(value.get("text"), str) and set(value) <= {"text", "coding"}:  # a CodeableConcept's own words
        return str(value["text"])
    if "coding" in value:
        return value.get("text") or "; ".join(
            str(c.get("display") or c.get("code", "")) for c in value["coding"] if isinstance(c, dict)
        )
    if "value" in value and not isinstance(value["value"], dict | list):  # a Quantity, Money, an Identifier
        return f"{value['value']} {value['currency']}" if "currency" in value else quantity(value)
    if "reference" in value or "display" in value:
        return str(value.get("display") or value.get("reference"))
    if "family" in value or "given" in value:
        return " ".join([*value.get("prefix", []), *value.get("given", []), value.get("family", "")]).strip()
    if "start" in value or "end" in value:
        return f"{value.get('start', '…')} to {value.get('end', '…')}"
    if "attachment" in value:
        return _attachment(value["attachment"])
    if "data" in value and "contentType" in value:
        return _attachment(value)
    return "; ".join(f"{words(k)}: {describe(v, depth + 1)}" for k, v in value.items() if k not in _HIDDEN)


def interaction(name: str, records: int) -> str:
    """An audit entry's interaction in words, with how many records it touched: 'searched and saw 3 records'."""
    verb = _INTERACTIONS.get(name, name.replace("-", " "))
    if records:
        return f"{verb} {records} record{'' if records == 1 else 's'}"
    return f"{verb} your records" if verb.endswith((" of", " to", " for", " in", " into")) else verb


def words(name: str) -> str:
    """A FHIR element name as words: effectiveDateTime is 'Effective date time'."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()
    return spaced[:1].upper() + spaced[1:]


def series(observations: list[Resource]) -> dict[str, list[dict[str, Any]]]:
    """Numeric observations as chart series by what they measure (components, like blood pressure's, apart),
    oldest first: {name: [{x: when, y: value, unit}]}."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for observation in observations:
        at = when(observation)
        parts = [observation, *[c for c in observation.get("component", []) if isinstance(c, dict)]]
        for part in parts:
            quantity = part.get("valueQuantity")
            if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
                name = describe(part.get("code", {})) or "value"
                found[name].append({"x": at, "y": quantity["value"], "unit": quantity.get("unit", "")})
    return {name: sorted(points, key=lambda p: str(p["x"])) for name, points in sorted(found.items())}


def _component(component: dict[str, Any]) -> str:
    """'Systolic: 128 mm[Hg]': a component's code and value."""
    value = next((v for k, v in component.items() if k.startswith("value")), "")
    return f"{describe(component.get('code', {}))}: {describe(value)}"


def _attachment(attachment: Any) -> str:
    if not isinstance(attachment, dict):
        return ""
    if attachment.get("contentType", "").startswith("text/") and isinstance(attachment.get("data"), str):
        try:
            return base64.b64decode(attachment["data"], validate=True).decode()[:_MAX_TEXT]
        except (ValueError, UnicodeDecodeError):
            return "(unreadable text)"
    return str(attachment.get("title") or attachment.get("url") or attachment.get("contentType", "attachment"))
