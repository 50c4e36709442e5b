"""The Parameters body of the scheduling and visit operations (`$find`, `$book`, `$prepare-book`, …), read one way.

Each operation declares the names it takes and what kind of value each is; a value of another type (`start` as a
`valueInteger`), a name given twice or a number FHIR's `integer` cannot hold is a `ValidationError` (400), never
quietly dropped. Values come back as text, as a query string gives them, so the same check (a date, a count, a
reference) follows whichever way the client sent them. Names an operation does not declare are ignored, as unknown
query parameters are.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from careledger.api._responses import int_param
from careledger.errors import ValidationError

_INT32 = 2**31  # FHIR's integer: a signed 32-bit number


class Kind(Enum):
    """What a parameter's value may be, by the `value[x]` types that carry it."""

    TEXT = ("valueString", "valueCode", "valueUri")
    REFERENCE = ("valueReference", "valueString", "valueUri")
    INSTANT = ("valueInstant", "valueDateTime", "valueString")
    INTEGER = ("valueInteger", "valuePositiveInt", "valueUnsignedInt")
    BOOLEAN = ("valueBoolean",)
    RESOURCE = ("resource",)


def operation_parameters(data: dict[str, Any], accepted: Mapping[str, Kind]) -> dict[str, str]:
    """The values of the Parameters resource `data` by name, as text, for the names in `accepted` (a `RESOURCE`
    one is checked, not returned: the operation reads it from `data`); `ValidationError` for any other body, a
    name given twice, or a value missing or of another kind."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    for parameter in _parameters(data):
        name = parameter["name"]
        kind = accepted.get(name)
        if kind is None:
            continue
        if name in seen:
            raise ValidationError(f"the parameter {name[:40]} is given once")
        seen.add(name)
        value = _value(parameter, name, kind)
        if value is not None:
            found[name] = value
    return found


def repeated_parameter(data: dict[str, Any], name: str, kind: Kind) -> list[str]:
    """Every value of the 0..* parameter `name` in the Parameters resource `data`, in order, as text; checked as
    `operation_parameters` checks a value."""
    return [
        value for p in _parameters(data) if p["name"] == name for value in [_value(p, name, kind)] if value is not None
    ]


def _parameters(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The named parameters of the Parameters resource `data`; `ValidationError` for any other body."""
    parameters = data.get("parameter", [])
    if data.get("resourceType") != "Parameters" or not isinstance(parameters, list):
        raise ValidationError("this operation takes a FHIR Parameters resource")
    if not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in parameters):
        raise ValidationError("each parameter needs a name")
    return parameters


def bounded_count(given: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number parameter in [low, high] (`default` if not given); `ValidationError` outside it, rather than a
    count quietly put back in range."""
    value = int_param(given, name, default, low - 1, high + 1)
    if not low <= value <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}, not {given[name][:24]!r}")
    return value


def reference_id(text: str, kind: str, name: str) -> str:
    """The id of a `kind/<id>` reference (relative or absolute), or a bare id; `ValidationError` for another."""
    prefix, _, record_id = text.strip().rpartition("/")
    if (prefix and prefix.rsplit("/", 1)[-1] != kind) or not record_id or len(record_id) > 64:
        raise ValidationError(f"{name} must be a {kind} reference ({kind}/<id>), not {text[:80]!r}")
    return record_id


def _value(parameter: dict[str, Any], name: str, kind: Kind) -> str | None:
    """The one value of `parameter`, of `kind`, as text (None for a resource)."""
    given = [key for key in parameter if key.startswith("value") or key in ("resource", "part")]
    if len(given) != 1 or given[0] not in kind.value:
        types = " or ".join(kind.value)
        raise ValidationError(f"the parameter {name} takes one {types}, not {', '.join(given) or 'no value'}")
    value = parameter[given[0]]
    if kind is Kind.RESOURCE:
        if not isinstance(value, dict):
            raise ValidationError(f"the parameter {name} takes a resource")
        return None
    if kind is Kind.BOOLEAN:
        if not isinstance(value, bool):
            raise ValidationError(f"the parameter {name} is a FHIR boolean (true or false)")
        return "true" if value else "false"
    if kind is Kind.INTEGER:
        if not isinstance(value, int) or isinstance(value, bool) or not -_INT32 <= value < _INT32:
            raise ValidationError(f"the parameter {name} is a FHIR integer (a whole number of 32 bits)")
        return str(value)
    if given[0] == "valueReference":
        value = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(value, str):
        raise ValidationError(f"the parameter {name}'s {given[0]} is text")
    return value
