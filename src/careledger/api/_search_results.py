"""A search's answer: the page of matches the caller may see, shaped as the request asks, in a searchset Bundle.

Selection (`records.search_query`) and visibility (the guarded repository) happen before
anything here; this module pages (`_count`, `_offset`), counts (`_total`), cuts
(`_summary`, `_elements`), brings in what `_include`/`_revinclude` name (`_includes`,
through the same door) and links. The `self` link names only the parameters the search
used: an unknown one is ignored and left out, or refused under `Prefer: handling=strict`.
Paging links keep every parameter that was used. `Paging` is the one paging scheme of the
API: search and `$everything` both page with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from careledger.access import Accessor, RecordAccess
from careledger.api._auth import Caller
from careledger.api._deps import call, own_only
from careledger.api._includes import included, inclusions
from careledger.api._responses import int_param, preferences, searchset
from careledger.errors import ValidationError
from careledger.fhir import operation_outcome, subset, summary_mode
from careledger.records import Resource, search_query

DEFAULT_COUNT = 50
MAX_COUNT = 500
_TOTAL_MODES = ("none", "estimate", "accurate")


def _not_negative(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    """A whole-number paging parameter, at most `high`; a `ValidationError` if it is not a number or negative."""
    value = int_param(params, name, default, -1, high)
    if value < 0:
        raise ValidationError(f"{name} must be 0 or more, not {params[name][:20]!r}")
    return value


@dataclass(frozen=True, slots=True)
class Paging:
    """The page a request asks for: `count` records after the first `offset`. A `_count` above `MAX_COUNT` is
    answered with `MAX_COUNT` and said so (`asked` keeps it), as R4 lets a server cut a page it finds too big."""

    count: int
    offset: int
    asked: int | None = None

    @classmethod
    def of(cls, params: Mapping[str, str], *, count_only: bool = False) -> Paging:
        """The paging `params` ask for (`count_only`: `_summary=count`, no entries); a negative or non-numeric
        `_count` or `_offset` is a `ValidationError` (a negative offset named no page: it was quietly the first)."""
        offset = _not_negative(params, "_offset", 0, 10**9)
        if count_only:
            return cls(0, offset)
        count = _not_negative(params, "_count", DEFAULT_COUNT, 10**18)
        return cls(min(count, MAX_COUNT), offset, count if count > MAX_COUNT else None)

    def bundle(
        self,
        request: Request,
        url: str,
        used: list[tuple[str, str]],
        matches: list[Resource],
        total: int,
        included: list[Resource] | None = None,
    ) -> dict[str, Any]:
        """The searchset Bundle of this page of `url`'s `total` matches, linked (`self`, `first`, `previous`,
        `next`, `last`, each with every parameter in `used` and the `_count` actually used); an OperationOutcome
        entry (`search.mode: outcome`) says when the `_count` asked for was cut."""
        bundle = searchset(request, matches, total=total, included=included, links=self._links(url, used, total))
        if self.asked is not None:
            cut = f"_count was reduced from {self.asked} to {MAX_COUNT}, the most this server answers in one page"
            outcome = operation_outcome("informational", cut, severity="warning")
            bundle["entry"].append({"resource": outcome, "search": {"mode": "outcome"}})
        return bundle

    def _links(self, url: str, used: list[tuple[str, str]], total: int) -> list[dict[str, str]]:
        kept = [(name, value) for name, value in used if name not in ("_count", "_offset")]
        count, offset = self.count, self.offset

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
    paging = Paging.of(params, count_only=summary == "count")
    wanted = inclusions(params.multi_items())
    page = await call(access.for_caller(accessor).search_page, query, offset=paging.offset, count=paging.count)
    brought = await call(included, access, accessor, page.resources, wanted) if wanted else []
    elements = [name for value in params.getlist("_elements") for name in value.split(",")]
    shaped = [subset(resource, summary=summary, elements=elements) for resource in page.resources]
    used = [(name, value) for name, value in params.multi_items() if name not in unknown]
    bundle = paging.bundle(request, f"{request.base_url}{resource_type}", used, shaped, page.total, brought)
    if total_mode == "none":
        del bundle["total"]
    return bundle
