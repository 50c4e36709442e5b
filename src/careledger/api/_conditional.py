"""The criteria of conditional interactions (`If-None-Exist`, `PUT /Type?…`, `DELETE /Type?…`) and the
conditions of a conditional read (`If-None-Match`, `If-Modified-Since`).

Criteria are searches run through the guarded repository like any other, so a caller can
only ever match what it may see. Unlike a plain search they must be understood in full:
an unknown parameter silently ignored would widen the match to records the client never
meant, and empty criteria would match every record, so both are a `ValidationError`.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from careledger.access import Accessor, RecordAccess
from careledger.errors import PreconditionFailed, ValidationError
from careledger.records import RESULT_PARAMS, Resource, SearchQuery, search_query


def criteria(resource_type: str, query: str, *, patient_address: str | None) -> SearchQuery:
    """The search `query` (a URL's query string, or an `If-None-Exist` value) names, refusing what it cannot honour."""
    params = parse_qsl(query.removeprefix("?"), keep_blank_values=True)
    params = [(name, value) for name, value in params if name not in RESULT_PARAMS]
    if not params:
        raise ValidationError(f"a conditional {resource_type} interaction needs search criteria")
    found, unknown = search_query(resource_type, params, patient_address=patient_address)
    if unknown:
        raise ValidationError(f"unknown search parameters in the criteria: {', '.join(unknown)}")
    return found


def the_match(
    access: RecordAccess, accessor: Accessor, resource_type: str, conditions: str, *, patient_address: str | None
) -> Resource | None:
    """The one record `conditions` match as `accessor` may see it (a request's or a Bundle entry's); 412 if several."""
    found = access.for_caller(accessor).search(criteria(resource_type, conditions, patient_address=patient_address))
    return only_match(found, conditions)


def only_match(matches: list[Resource], criteria_text: str) -> Resource | None:
    """The one record criteria matched, or None for none; `PreconditionFailed` (412) when several did."""
    if len(matches) > 1:
        raise PreconditionFailed(f"{len(matches)} records match {criteria_text!r}: the criteria are not selective")
    return matches[0] if matches else None


def not_modified(resource: Resource, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """Whether a read may answer 304: the client holds this version (`If-None-Match`) or one as new
    (`If-Modified-Since`).

    `If-None-Match` decides when both are given, as RFC 9110 says.
    """
    meta = resource.get("meta", {})
    if if_none_match is not None:
        version = meta.get("versionId")
        tags = {tag.strip().removeprefix("W/").strip('"') for tag in if_none_match.split(",")}
        return "*" in tags or str(version) in tags
    if if_modified_since is not None and "lastUpdated" in meta:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False  # RFC 9110: an invalid date is ignored
        updated = datetime.fromisoformat(str(meta["lastUpdated"]).replace("Z", "+00:00")).replace(microsecond=0)
        return since.tzinfo is not None and updated <= since
    return False
