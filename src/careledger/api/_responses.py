"""How the API answers: FHIR JSON bodies, OperationOutcome errors, Bundles, and the headers that go with them.

Every router builds its responses here, so a resource, a history or a search reads the
same whichever route served it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Message, Send

from careledger.errors import (
    CareLedgerError,
    DatabaseUnavailable,
    NotFound,
    TooMany,
    Unauthenticated,
    ValidationError,
    http_status,
)
from careledger.fhir import FHIR_VERSION_PARAMETER, fhir_instant, operation_outcome
from careledger.records import Resource, StoredRecord

# Every FHIR JSON answer's media type, errors included, whichever layer answers (a route, or a middleware
# refusing before any route runs: 406, 413, 415, a CORS preflight's 403): it says the release served, R4.
FHIR_JSON = f"application/fhir+json; fhirVersion={FHIR_VERSION_PARAMETER}"


def fhir_response(body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """`body` as `application/fhir+json; fhirVersion=4.0`."""
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def error_response(error: CareLedgerError) -> JSONResponse:
    """The OperationOutcome of `error`, with its HTTP status (and the headers that status calls for)."""
    status, code = http_status(error)
    headers = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="careledger"'
    elif isinstance(error, TooMany | DatabaseUnavailable):
        headers["Retry-After"] = retry_after(error)
    return fhir_response(operation_outcome(code, error.public), status, headers)


def retry_after(error: TooMany | DatabaseUnavailable) -> str:
    """The `Retry-After` of a 429 or a database's 503 (API or page): the wait in whole seconds, at least one."""
    return str(max(1, math.ceil(error.retry_after)))


def resource_response(resource: Resource) -> JSONResponse:
    """A read: the resource, its version as the ETag and its `lastUpdated` as `Last-Modified`."""
    meta = resource.get("meta", {})
    headers = {"ETag": f'W/"{meta.get("versionId", "1")}"'}
    if "lastUpdated" in meta:
        headers["Last-Modified"] = _http_date(meta["lastUpdated"])
    return fhir_response(resource, headers=headers)


def written(request: Request, stored: StoredRecord, data: Resource, prefer: str | None = None) -> Response:
    """A create or update: 201 or 200, its `Location` and `ETag`, and the body `Prefer: return=` asks for.

    `representation` (the default) is the stored resource, `minimal` no body, `OperationOutcome` one saying
    what was done.
    """
    headers = {"Location": f"{request.base_url}{location(stored)}", "ETag": f'W/"{stored.version}"'}
    wanted = preferences(prefer).get("return", "representation")
    if wanted == "minimal":
        return Response(status_code=status_of(stored), headers=headers)
    if wanted == "OperationOutcome":
        done = "created" if stored.version == 1 else f"updated to version {stored.version}"
        what = f"{stored.resource_type}/{stored.record_id} {done}"
        outcome = operation_outcome("informational", what, severity="information")
        return fhir_response(outcome, status_of(stored), headers)
    return fhir_response(stored_body(data, stored), status_of(stored), headers)


def preferences(prefer: str | None) -> dict[str, str]:
    """The `Prefer` header's preferences (`return=minimal, handling=strict` -> {return: minimal, handling: strict})."""
    found: dict[str, str] = {}
    for part in (prefer or "").replace(";", ",").split(","):
        name, _, value = part.partition("=")
        if name.strip():
            found[name.strip().lower()] = value.strip().strip('"')
    return found


def not_modified_response(resource: Resource) -> Response:
    """304 for a conditional read the client's copy satisfies: no body, the version's validators."""
    meta = resource.get("meta", {})
    headers = {"ETag": f'W/"{meta.get("versionId", "1")}"'}
    if "lastUpdated" in meta:
        headers["Last-Modified"] = _http_date(meta["lastUpdated"])
    return Response(status_code=304, headers=headers)


def stored_body(data: Resource, stored: StoredRecord) -> Resource:
    """A written resource as the server now holds it: its id and meta as stored."""
    meta = {
        **data.get("meta", {}),
        "versionId": str(stored.version),
        "lastUpdated": fhir_instant(stored.last_updated),
    }
    return {**data, "id": stored.record_id, "meta": meta}


def status_of(stored: StoredRecord) -> int:
    """201 for a record's first version, 200 for a new version of one that existed."""
    return 201 if stored.version == 1 else 200


def location(stored: StoredRecord) -> str:
    """The version-specific URL of a stored version, relative to the base."""
    return f"{stored.resource_type}/{stored.record_id}/_history/{stored.version}"


def searchset(
    request: Request,
    matches: list[Resource],
    *,
    total: int | None = None,
    included: list[Resource] | None = None,
    links: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A `searchset` Bundle: the matches, then what `_include`/`_revinclude` brought, with absolute `fullUrl`s.

    `total` defaults to the number of matches (a page passes all it was cut from); `links` to a `self` link
    of the request's URL.
    """
    base = str(request.base_url)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links if links is not None else [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": mode}}
            for mode, group in (("match", matches), ("include", included or []))
            for r in group
        ],
        "total": len(matches) if total is None else total,
    }


def history_bundle(request: Request, versions: list[tuple[StoredRecord, Resource | None]]) -> dict[str, Any]:
    """A `history` Bundle, newest first; a deletion is an entry with a DELETE request and no resource."""
    entries = []
    for stored, resource in versions:
        url = f"{stored.resource_type}/{stored.record_id}"
        method = "DELETE" if stored.deleted else ("POST" if stored.version == 1 else "PUT")
        entries.append(
            {
                "fullUrl": f"{request.base_url}{url}",
                **({"resource": resource} if resource is not None else {}),
                "request": {"method": method, "url": url},
                "response": {"status": "200", "etag": f'W/"{stored.version}"'},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(entries),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": entries,
    }


def typed(data: Resource, resource_type: str, *, found: bool = False) -> Resource:
    """`data` if it is of the type the URL names; else `NotFound` (a read) or `ValidationError` (a body)."""
    if data.get("resourceType") != resource_type:
        if found:
            raise NotFound(f"no {resource_type} with this id (it is a {data.get('resourceType')})")
        raise ValidationError(f"the body is a {data.get('resourceType')}, not a {resource_type} as the URL says")
    return data


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, clamped to [low, high]; `ValidationError` if it is not a number."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number, not {raw!r}") from None
    return max(low, min(value, high))


def adding_headers(
    send: Send, *headers: tuple[bytes, bytes], answers: Collection[str] = ("http.response.start",)
) -> Send:
    """`send`, with `headers` added to each message that starts an answer (`answers`, its ASGI types): what a
    layer says about every answer it passes on, whichever route or refusal wrote it."""

    async def adding(message: Message) -> None:
        """The message, with `headers` added if it starts an answer."""
        if message["type"] in answers:
            message = {**message, "headers": [*message.get("headers", ()), *headers]}
        await send(message)

    return adding


@functools.lru_cache(maxsize=4096)
def _http_date(instant: str) -> str:
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
