"""A search's answer: the page of matches the caller may see, shaped as the request asks, in a searchset Bundle.

Selection (`records.search_query`) and visibility (the guarded repository) happen before
anything here; this module pages (`_count`, `_offset`), counts (`_total`), cuts
(`_summary`, `_elements`), brings in what `_include`/`_revinclude` name (`_includes`,
through the same door) and links. The `self` link names only the parameters the search
used: an unknown one is ignored and left out, or refused under `Prefer: handling=strict`.
Paging links keep every parameter that was used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from careledger.access import Accessor, RecordAccess
from careledger.api._auth import Caller
from careledger.api._deps import call, own_only
from careledger.api._includes import included, inclusions
from careledger.api._responses import int_param, preferences, searchset
from careledger.errors import ValidationError
from careledger.fhir import subset, summary_mode
from careledger.records import search_query

DEFAULT_COUNT = 50
MAX_COUNT = 500
_TOTAL_MODES = ("none", "estimate", "accurate")


async def search_bundle(
    request: Request, resource_type: str, access: RecordAccess, accessor: Accessor, caller: Caller, prefer: str | None
) -> dict[str, Any]:
    """The searchset Bundle of one page of `resource_type` records matching the request, as `accessor` may see them."""
    params = request.query_params
    query, unknown = search_query(resource_type, params.multi_items(), patient_address=own_only(caller, resource_type))
    if unknown and preferences(prefer).get("handling") == "strict":
        raise ValidationError(f"unknown search parameters: {', '.join(unknown)}")
    summary = summary_mode(params.get("_summary"))
    total_mode = params.get("_total", "accurate")
    if total_mode not in _TOTAL_MODES:
        raise ValidationError(f"_total must be one of {', '.join(_TOTAL_MODES)}, not {total_mode[:40]!r}")
    count = 0 if summary == "count" else int_param(params, "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    offset = int_param(params, "_offset", 0, 0, 10**9)
    wanted = inclusions(params.multi_items())
    found = await call(access.for_caller(accessor).search, query)
    matches = found[offset : offset + count]
    brought = await call(included, access, accessor, matches, wanted) if wanted else []
    elements = [name for value in params.getlist("_elements") for name in value.split(",")]
    page = [subset(resource, summary=summary, elements=elements) for resource in matches]
    used = [(name, value) for name, value in params.multi_items() if name not in unknown and name != "_offset"]
    links = _links(f"{request.base_url}{resource_type}", used, count, offset, len(found))
    bundle = searchset(request, page, total=len(found), included=brought, links=links)
    if total_mode == "none":
        del bundle["total"]
    return bundle


def _links(url: str, used: list[tuple[str, str]], count: int, offset: int, total: int) -> list[dict[str, str]]:
    """`self`, `first`, `previous`, `next` and `last` of a page, each with every parameter that was used."""
    kept = [(name, value) for name, value in used if name != "_count"]

    def page_at(at: int) -> str:
        return f"{url}?{urlencode([*kept, ('_count', str(count)), ('_offset', str(at))])}"

    links = [{"relation": "self", "url": page_at(offset)}]
    if count == 0:
        return links
    last = max(0, (total - 1) // count * count)
    links.append({"relation": "first", "url": page_at(0)})
    if offset > 0:
        links.append({"relation": "previous", "url": page_at(max(0, offset - count))})
    if offset + count < total:
        links.append({"relation": "next", "url": page_at(offset + count)})
    links.append({"relation": "last", "url": page_at(last)})
    return links
