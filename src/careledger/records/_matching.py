"""What the index only narrows, decided on the decrypted resource: string `:contains` and long prefixes,
number and quantity comparisons, dates compared with a dateTime (the index holds days); and `_sort` on any
parameter.

A number's precision is an implicit range, as the specification says: `value-quantity=5.4`
matches 5.35 up to (not including) 5.45, while `gt5.4` means above 5.4.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from careledger.errors import ValidationError
from careledger.fhir import search_parameters
from careledger.records import _values
from careledger.records._query import search_number, split_prefix
from careledger.records._search import FhirDate, ValueCheck

Resource = dict[str, Any]
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def matches(resource: Resource, checks: Sequence[ValueCheck]) -> bool:
    """Whether `resource` passes every check (each passes when any of its values does)."""
    params = search_parameters(str(resource["resourceType"]))
    for check in checks:
        found = params[check.param].values(resource)
        if not any(_passes(found, check.modifier, wanted) for wanted in check.values):
            return False
    return True


def _passes(found: list[_values.Found], modifier: str, wanted: str) -> bool:
    if modifier == "date":
        return any(_date_holds(item, wanted) for item in found)
    if modifier in ("contains", "prefix"):
        text = _values.normalized(wanted)
        strings = [_values.normalized(s) for item in found for s in _values.strings(item)]
        return any(text in s if modifier == "contains" else s.startswith(text) for s in strings)
    number, _, unit = wanted.partition("|")
    prefix, target = search_number(number)
    system, _, code = unit.partition("|")
    for item in found:
        if unit and not _unit_is(item, system, code):
            continue
        value = _values.number(item)
        if value is not None and _compare(value, prefix, target):
            return True
    return False


def _date_holds(item: _values.Found, wanted: str) -> bool:
    """Whether a date value's range compares with `wanted` (a prefix and a dateTime) as the index compares days:
    `eq` inside it, `lt` starting before it, `gt` ending after it, `sa` starting after, `eb` ending before."""
    span = _values.dates(item)
    if span is None:
        return False
    prefix, rest = split_prefix(wanted)
    query = FhirDate.parse(rest)
    try:
        start = FhirDate.parse(span[0]).start if span[0] else _EARLIEST
        end = FhirDate.parse(span[1]).end if span[1] else _LATEST
    except ValidationError:  # as the index does: a date the models allow and we cannot read is not searchable
        return False
    inside = query.start <= start and end <= query.end
    outcomes = {
        "eq": inside,
        "ne": not inside,
        "lt": start < query.start,
        "le": start < query.start or inside,
        "gt": end > query.end,
        "ge": end > query.end or inside,
        "sa": start >= query.end,
        "eb": end <= query.start,
    }
    return outcomes[prefix]


def _unit_is(item: _values.Found, system: str, code: str) -> bool:
    """Whether a quantity's unit is `code` (of `system`, when one is named)."""
    found = _values.unit(item)
    return found is not None and found[1] == code and (not system or found[0] == system)


def _compare(value: Decimal, prefix: str, target: Decimal) -> bool:
    half = Decimal(1).scaleb(target.as_tuple().exponent) / 2  # type: ignore[arg-type]
    low, high = target - half, target + half
    outcomes = {
        "eq": low <= value < high,
        "ne": not low <= value < high,
        "lt": value < target,
        "le": value <= target,
        "gt": value > target,
        "ge": value >= target,
        "sa": value > target,
        "eb": value < target,
    }
    return outcomes[prefix]


_READERS = {
    "string": lambda found: next((_values.normalized(s) for s in _values.strings(found)), None),
    "token": lambda found: next((code for _, code in _values.codes(found)), None),
    "reference": _values.reference,
    "uri": lambda found: found.value if isinstance(found.value, str) else None,
    "date": lambda found: (_values.dates(found) or (None, None))[0],
    "number": _values.number,
    "quantity": _values.number,
}


def sort_resources(resources: list[Resource], keys: Sequence[tuple[str, bool]]) -> list[Resource]:
    """`resources` in the order of `keys` ((parameter, descending), most significant first); a resource
    without a value for a key comes after those with one, either way."""
    ordered = list(resources)
    for name, descending in reversed(keys):
        if name == "_id":
            ordered.sort(key=lambda r: str(r.get("id", "")), reverse=descending)
            continue
        if name == "_lastUpdated":
            ordered.sort(key=lambda r: str(r.get("meta", {}).get("lastUpdated", "")), reverse=descending)
            continue
        with_value: list[tuple[Any, Resource]] = []
        without: list[tuple[Any, Resource]] = []
        for resource in ordered:
            param = search_parameters(str(resource["resourceType"]))[name]
            value = _first(param.values(resource), _READERS[param.kind])
            (with_value if value is not None else without).append((value, resource))
        with_value.sort(key=lambda pair: pair[0], reverse=descending)
        ordered = [resource for _, resource in with_value] + [resource for _, resource in without]
    return ordered


def satisfies(resource: Resource, queries: Sequence[Sequence[tuple[str, str]]]) -> bool:
    """Whether `resource` matches one of `queries`: each a list of token parameters (`category=laboratory`,
    `code=http://loinc.org|2345-7`, values OR-ed by commas) that must all hold."""
    params = search_parameters(str(resource["resourceType"]))
    return any(all(_token_holds(resource, params.get(name), value) for name, value in query) for query in queries)


def _token_holds(resource: Resource, param: Any, wanted: str) -> bool:
    if param is None or param.kind != "token":
        return False
    found = {pair for item in param.values(resource) for pair in _values.codes(item)}
    for value in wanted.split(","):
        system, separator, code = value.partition("|")
        if (separator and (system, code) in found) or (not separator and any(c == value for _, c in found)):
            return True
    return False


def references(resource: Resource, code: str) -> set[str]:
    """The local records (`Type/id`) `resource` points at through its reference parameter `code`."""
    param = search_parameters(str(resource["resourceType"])).get(code)
    if param is None or param.kind != "reference":
        raise ValidationError(f"{code} is not a reference parameter of {resource['resourceType']}")
    return {target for item in param.values(resource) if (target := _values.reference(item)) is not None}


def references_to(resource: Resource, code: str, resource_type: str) -> set[str]:
    """The ids of the `resource_type` records `resource` points at through its reference parameter `code`."""
    prefix = f"{resource_type}/"
    return {target.removeprefix(prefix) for target in references(resource, code) if target.startswith(prefix)}


def _first(found: list[_values.Found], reader: Any) -> Any:
    for item in found:
        value = reader(item)
        if value is not None:
            return value
    return None
