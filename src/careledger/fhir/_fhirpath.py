"""The FHIRPath the specification's search parameters are written in, compiled into plain functions over JSON.

Search parameter expressions use a small part of FHIRPath: paths through elements,
unions (`|`), choice types (`Observation.value as Quantity`, `.as(dateTime)`,
`.ofType(Period)`), an index (`entry[0]`) and three filters: `where(resolve() is Patient)`, `where(system='…')`
and `where(type='…')`. This module compiles exactly that part into Python closures that
walk the resource's JSON, because a general FHIRPath engine costs milliseconds per
resource and the index is built on every write. An expression outside the part is a
`ValueError` when compiled, and its parameter is not served (a test lists the few).

A value carries the type a choice element named (`valueQuantity` -> "Quantity"), so the
index knows a Quantity from a CodeableConcept without guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Found:
    """A value a path found, with the FHIR type its choice element named (None when the path did not say)."""

    value: Any
    fhir_type: str | None = None


Step = Callable[[Iterator[Found]], Iterator[Found]]
Compiled = Callable[[dict[str, Any]], list[Found]]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WHERE_RESOLVE = re.compile(r"where\(resolve\(\) is ([A-Z][A-Za-z]*)\)")
_WHERE_EQUALS = re.compile(r"where\(([a-z][A-Za-z]*)\s*=\s*'([^']*)'\)")
_AS = re.compile(r"(?:as|ofType)\(([A-Za-z]+)\)")
_INDEXED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[([0-9]+)\]")


def compile_path(expression: str, resource_type: str) -> Compiled:
    """The values `expression` selects from a resource of `resource_type` (terms about other types are dropped)."""
    terms = [_term(term.strip(), resource_type) for term in _split(expression, "|")]
    kept = [term for term in terms if term is not None]

    def evaluate(resource: dict[str, Any]) -> list[Found]:
        """Every value each term selects, in the order of the terms."""
        found: list[Found] = []
        for steps in kept:
            values: Iterator[Found] = iter([Found(resource, resource_type)])
            for step in steps:
                values = step(values)
            found.extend(values)
        return found

    return evaluate


def _term(term: str, resource_type: str) -> list[Step] | None:
    """The steps of one union term, or None if it is about another resource type."""
    cast: str | None = None
    rest = ""
    if term.startswith("("):
        close = _matching(term, 0)
        inner, rest = term[1:close], term[close + 1 :]
        path, separator, cast = inner.rpartition(" as ")
        if not separator:
            raise ValueError(f"cannot compile {term!r}")
        term = path.strip()
    parts = _split(term, ".")
    if parts[0] not in (resource_type, "Resource", "DomainResource"):
        return None
    steps = [_step(part) for part in parts[1:]]
    if cast is not None:
        steps.append(_as(cast.strip()))
    steps.extend(_step(part) for part in _split(rest.lstrip("."), ".") if part)
    return steps


def _step(part: str) -> Step:
    if _IDENTIFIER.fullmatch(part):
        return _child(part)
    if found := _WHERE_RESOLVE.fullmatch(part):
        return _references_to(found[1])
    if found := _WHERE_EQUALS.fullmatch(part):
        return _equals(found[1], found[2])
    if found := _AS.fullmatch(part):
        return _as(found[1])
    if found := _INDEXED.fullmatch(part):
        return _nth(_child(found[1]), int(found[2]))
    raise ValueError(f"cannot compile the FHIRPath step {part!r}")


def _child(name: str) -> Step:
    """Step into element `name`, or into every `name[x]` choice, each value tagged with its type."""
    prefix_length = len(name)

    def step(values: Iterator[Found]) -> Iterator[Found]:
        for found in values:
            node = found.value
            if not isinstance(node, dict):
                continue
            if name in node:
                yield from _each(node[name], None)
                continue
            for key, value in node.items():
                if key.startswith(name) and len(key) > prefix_length and key[prefix_length].isupper():
                    yield from _each(value, key[prefix_length:])

    return step


def _nth(inner: Step, position: int) -> Step:
    def step(values: Iterator[Found]) -> Iterator[Found]:
        return iter(list(inner(values))[position : position + 1])

    return step


def _each(value: Any, fhir_type: str | None) -> Iterator[Found]:
    for item in value if isinstance(value, list) else [value]:
        yield Found(item, fhir_type)


def _as(fhir_type: str) -> Step:
    """Keep the values of one choice type (`as Quantity`); values whose type the path did not name are kept."""
    wanted = fhir_type[0].upper() + fhir_type[1:]

    def step(values: Iterator[Found]) -> Iterator[Found]:
        for found in values:
            if found.fhir_type is None:
                yield Found(found.value, wanted)
            elif found.fhir_type == wanted:
                yield found

    return step


def _references_to(resource_type: str) -> Step:
    """`where(resolve() is T)`: references whose target is a T, as far as the reference itself says."""
    prefix = f"{resource_type}/"

    def step(values: Iterator[Found]) -> Iterator[Found]:
        for found in values:
            node = found.value
            if not isinstance(node, dict):
                continue
            reference = node.get("reference")
            if isinstance(reference, str):
                if reference.startswith(prefix) or f"/{prefix}" in reference:
                    yield found
            elif node.get("type") == resource_type:
                yield found

    return step


def _equals(name: str, literal: str) -> Step:
    def step(values: Iterator[Found]) -> Iterator[Found]:
        return (found for found in values if isinstance(found.value, dict) and found.value.get(name) == literal)

    return step


def _split(text: str, separator: str) -> list[str]:
    """`text` split on `separator` outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for position, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, position):
            parts.append(text[start:position])
            start = position + len(separator)
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _matching(text: str, opening: int) -> int:
    depth = 0
    for position in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[position], 0)
        if depth == 0:
            return position
    raise ValueError(f"unbalanced parentheses in {text!r}")
