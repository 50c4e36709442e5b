"""Addresses and FHIR references as the people on a page know them: names, never `Medication/123` or `0x…`."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from careledger.access import Repository, referenced_wallet
from careledger.config import NODE_WALLET
from careledger.portal._views import describe, person_name, title, words
from careledger.records import Resource, SearchQuery
from careledger.services import Services

# What a page names by reading the record a reference points to (one search per type, through the reader's door).
_NAMED_TYPES = frozenset({"Medication", "Practitioner", "Organization", "Patient", "RelatedPerson", "Condition"})
_LOCAL = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_MAX_PER_TYPE = 100


def name_of(node: Services, address: str | None) -> str:
    """The wallet's name where this node holds it ('this node' for its own), else the address shortened; '' for
    none. The wallet store remembers what it has read, so this costs a lookup, not a directory listing."""
    if not address:
        return ""
    wallet = node.wallets.find(address)
    if wallet is None:
        return f"{address[:6]}…{address[-4:]}"
    return "this node" if wallet.name == NODE_WALLET else wallet.name


def resource_name(resource: Resource) -> str:
    """What a record is called when another points to it: a person's or organization's name, a medication's or a
    condition's words."""
    if resource.get("resourceType") in ("Practitioner", "Patient", "RelatedPerson"):
        return person_name(resource)
    if resource.get("resourceType") == "Organization":
        return str(resource.get("name", ""))
    return describe(resource.get("code", {})) or title(resource)


def reference_names(node: Services, door: Repository, resources: Iterable[Resource]) -> Callable[[Any], str]:
    """A namer of the references `resources` make: its display (a wallet address named as `name_of` does), the
    wallet a `did:pkh` identifier names (as messages name practitioners), else the name of the record it points
    to, read through `door` (one search per type, so what the reader may not see stays unnamed); never the bare
    reference."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for resource in resources:
        for reference in _references(resource):
            found = _LOCAL.match(str(reference.get("reference", "")))
            if found and found.group(1) in _NAMED_TYPES and not reference.get("display"):
                wanted[found.group(1)].add(found.group(2))
    known: dict[str, str] = {}
    for kind, ids in wanted.items():
        query = SearchQuery(resource_type=kind, record_ids=tuple(sorted(ids)[:_MAX_PER_TYPE]))
        for record in door.search(query):
            known[f"{kind}/{record.get('id')}"] = resource_name(record)

    def name(reference: Any) -> str:
        """A Reference (or a list of them) named; '' for none."""
        if isinstance(reference, list):
            return "; ".join(filter(None, (name(item) for item in reference)))
        if not isinstance(reference, dict):
            return ""
        display = str(reference.get("display") or "")
        if display:
            return name_of(node, display) if _ADDRESS.match(display) else display
        wallet = referenced_wallet(reference)
        if wallet is not None:
            return name_of(node, wallet)
        target = str(reference.get("reference") or "")
        if target in known:
            return known[target]
        kind = target.split("/")[0] if _LOCAL.match(target) else str(reference.get("type") or "record")
        return f"({words(kind).lower()} not available)" if target or reference.get("type") else ""

    return name


def _references(resource: Resource, depth: int = 0) -> Iterable[dict[str, Any]]:
    """The References among a record's elements and theirs (a medication, a requester, performers, reasons, an
    Appointment's participants' actors)."""
    for value in resource.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and "reference" in item:
                yield item
            elif isinstance(item, dict) and depth == 0:
                yield from _references(item, depth + 1)
