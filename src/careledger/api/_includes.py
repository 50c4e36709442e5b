"""`_include` and `_revinclude`: the records a page of matches points at, or that point at it.

Each is one more search through the guarded repository (by id for `_include`, by
reference for `_revinclude`), so an included record is judged and audited exactly as if
the client had asked for it by name; what it may not see is left out, not told.
`:iterate` applies once more to what the first round brought in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from careledger.access import Accessor, RecordAccess
from careledger.errors import ValidationError
from careledger.fhir import search_parameters
from careledger.records import Resource, SearchQuery, TokenCondition, references

_ROUNDS_PER_REQUEST = 8  # include parameters honoured per request: each is a search


@dataclass(frozen=True, slots=True)
class Inclusion:
    """`source:param[:target]`, forwards (`_include`) or backwards (`_revinclude`), iterated or not."""

    source: str
    param: str
    target: str | None
    reverse: bool
    iterate: bool

    @classmethod
    def parse(cls, name: str, value: str) -> Inclusion:
        """One `_include[:iterate]` or `_revinclude[:iterate]` parameter; `ValidationError` if it names no
        reference parameter."""
        parts = value.split(":")
        if len(parts) not in (2, 3):
            raise ValidationError(f"{name}={value[:60]}: takes Type:parameter or Type:parameter:TargetType")
        source, param = parts[0], parts[1]
        found = search_parameters(source).get(param)
        if found is None or found.kind != "reference":
            raise ValidationError(f"{name}={value[:60]}: {param} is not a reference parameter of {source}")
        base, _, modifier = name.partition(":")
        return cls(source, param, parts[2] if len(parts) == 3 else None, base == "_revinclude", modifier == "iterate")


def inclusions(params: Iterable[tuple[str, str]]) -> list[Inclusion]:
    """The include parameters of a request, at most a few (each costs a search)."""
    found = [Inclusion.parse(n, v) for n, v in params if n.partition(":")[0] in ("_include", "_revinclude")]
    if len(found) > _ROUNDS_PER_REQUEST:
        raise ValidationError(f"at most {_ROUNDS_PER_REQUEST} _include and _revinclude parameters per search")
    return found


def included(
    access: RecordAccess, accessor: Accessor, matches: list[Resource], wanted: list[Inclusion]
) -> list[Resource]:
    """What `wanted` brings in for `matches`, each record once and none of the matches again."""
    seen = {(r["resourceType"], r["id"]) for r in matches}
    brought: list[Resource] = []
    for round_number in range(2):
        sources = matches if round_number == 0 else brought
        for inclusion in wanted:
            if round_number == 1 and not inclusion.iterate:
                continue
            for resource in _one(access, accessor, sources, inclusion):
                if (resource["resourceType"], resource["id"]) not in seen:
                    seen.add((resource["resourceType"], resource["id"]))
                    brought.append(resource)
    return brought


def _one(access: RecordAccess, accessor: Accessor, sources: list[Resource], inclusion: Inclusion) -> list[Resource]:
    if inclusion.reverse:
        targets = tuple(f"{r['resourceType']}/{r['id']}" for r in sources)
        if not targets:
            return []
        query = SearchQuery(resource_type=inclusion.source, tokens=(TokenCondition(inclusion.param, targets),))
        return access.for_caller(accessor).search(query)
    wanted: dict[str, set[str]] = {}
    for resource in sources:
        if resource["resourceType"] != inclusion.source:
            continue
        for target in references(resource, inclusion.param):
            kind, _, record_id = target.partition("/")
            if inclusion.target in (None, kind):
                wanted.setdefault(kind, set()).add(record_id)
    found: list[Resource] = []
    for kind, ids in sorted(wanted.items()):
        found.extend(access.for_caller(accessor).search(SearchQuery(resource_type=kind, record_ids=tuple(sorted(ids)))))
    return found
