"""Search tokens: what the node indexes so it can search without decrypting every record.

Tokens stay in the custodian node's database and never leave it. Each is
(parameter, system, value): `code` and `identifier` carry their system; dates are
ISO strings (they sort as text); references are `Type/id`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]

# Elements that carry a resource's main code.
_CODE_ELEMENTS = ("code", "vaccineCode", "medicationCodeableConcept", "type")
# Elements that carry its clinically relevant date, in order of preference.
_DATE_ELEMENTS = (
    "effectiveDateTime",
    "occurrenceDateTime",
    "authoredOn",
    "onsetDateTime",
    "recordedDate",
    "issued",
    "date",
    "birthDate",
)


@dataclass(frozen=True, slots=True)
class Token:
    param: str
    system: str
    value: str


def tokens(resource: Resource) -> Iterator[Token]:
    """Every search token of one resource."""
    for element in _CODE_ELEMENTS:
        concept = resource.get(element)
        concepts = concept if isinstance(concept, list) else [concept]
        for item in concepts:
            for coding in item.get("coding", []) if isinstance(item, dict) else []:
                if "code" in coding:
                    yield Token("code", coding.get("system", ""), str(coding["code"]))
    status = resource.get("status")
    if isinstance(status, str):
        yield Token("status", "", status)
    clinical = resource.get("clinicalStatus", {})
    for coding in clinical.get("coding", []) if isinstance(clinical, dict) else []:
        yield Token("status", coding.get("system", ""), str(coding.get("code", "")))
    for identifier in resource.get("identifier", []):
        if "value" in identifier:
            yield Token("identifier", identifier.get("system", ""), str(identifier["value"]))
    date = _date_of(resource)
    if date:
        yield Token("date", "", date)


def _date_of(resource: Resource) -> str | None:
    for element in _DATE_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, str):
            return value
    period = resource.get("period")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return str(period["start"])
    return None
