"""`_summary` and `_elements`: the parts of a resource a client asked for, marked SUBSETTED as the spec requires.

Which elements are "in the summary" and which are mandatory is read from the specification's
`isSummary` and `min`: through the R4B models' element flags (`summary_element_property`,
`element_required`) for the types R4B left as R4 defined them, from R4's own definitions for the
rest (`_r4_structures`), so it is right for every type, not only the ones someone listed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from careledger.errors import ValidationError
from careledger.fhir._r4_structures import element_flags, is_r4_validated

SUMMARY_MODES = ("true", "false", "text", "data", "count")
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@functools.cache
def _flags(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """The summary elements and the mandatory elements of a type, by JSON name (with their `_x` siblings)."""
    if is_r4_validated(resource_type):
        return element_flags(resource_type)
    from fhir.resources.R4B import get_fhir_model_class

    summary: set[str] = set()
    mandatory: set[str] = set()
    for name, field in get_fhir_model_class(resource_type).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = field.alias or name
        names = {key, f"_{key}"}
        if extra.get("summary_element_property"):
            summary |= names
        if extra.get("element_required") or extra.get("one_of_many_required"):
            mandatory |= names
    return frozenset(summary), frozenset(mandatory)


def summary_mode(value: str | None) -> str:
    """A `_summary` value, checked (`false` when absent)."""
    if value is None:
        return "false"
    if value not in SUMMARY_MODES:
        raise ValidationError(f"_summary must be one of {', '.join(SUMMARY_MODES)}, not {value[:40]!r}")
    return value


def subset(resource: dict[str, Any], *, summary: str = "false", elements: Iterable[str] = ()) -> dict[str, Any]:
    """`resource` cut down to what `_summary` (`true`, `text`, `data`) or `_elements` asks, tagged SUBSETTED.

    The whole resource (the same object) when neither asks for less.
    """
    wanted = {element.strip() for element in elements if element.strip()}
    if summary in ("false", "count") and not wanted:
        return resource
    summary_elements, mandatory = _flags(resource["resourceType"])
    if summary == "data":
        kept = {name: value for name, value in resource.items() if name != "text"}
    elif summary == "text":
        kept = {name: value for name, value in resource.items() if name in _ALWAYS | mandatory or name == "text"}
    elif summary == "true":
        kept = {name: value for name, value in resource.items() if name in _ALWAYS | summary_elements}
    else:
        allowed = _ALWAYS | mandatory | wanted | {f"_{name}" for name in wanted}
        kept = {name: value for name, value in resource.items() if name in allowed}
    meta = dict(kept.get("meta", {}))
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept
