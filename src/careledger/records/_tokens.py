"""Search tokens: what the node indexes so it can search without decrypting every record.

Each token is (parameter, system, value): `code` and `identifier` carry their system;
dates are FHIR dates. They are stored only as the blind index's keyed hashes
(`blind_terms`, see `_blind_index`), never as themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from careledger.errors import ValidationError
from careledger.records._blind_index import BlindIndex
from careledger.records._search import FhirDate

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


def blind_terms(found: Iterator[Token], index: BlindIndex) -> Iterator[dict[str, str]]:
    """The `record_tokens` values (param, system, value) that stand for `found`: keyed hashes only."""
    for token in found:
        if token.param != "date":
            yield {
                "param": token.param,
                "system": index.system_value(token.param, token.system, token.value),
                "value": index.value(token.param, token.value),
            }
            continue
        try:
            day = FhirDate.parse(token.value).first_day
        except ValidationError:  # the models validated it; a date they allow and we cannot read is not searchable
            continue
        for term in index.day_buckets(day):
            yield {"param": "date", "system": "", "value": term}
