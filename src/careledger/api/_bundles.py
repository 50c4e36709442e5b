"""`POST /` with a Bundle: a `transaction` (all or nothing) or a `batch` (each entry alone).

A transaction's entries are creates (POST) and updates (PUT), stored in one database
transaction by `RecordService.store`; references between its entries by `urn:uuid:` full
URLs are rewritten to the ids the server assigns, as FHIR servers do. A batch runs every
entry (POST, PUT, DELETE, and GET of a read, a search or an instance's history) on its own
and reports each outcome in the response; a POST with `ifNoneExist` is a conditional
create as the single request is. A transaction
refuses one rather than create a duplicate (its all-or-nothing write cannot take a match).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from careledger.errors import CareLedgerError, ValidationError, http_status
from careledger.fhir import operation_outcome
from careledger.records import Resource, parse_resource

# One entry as a batch runs it: (method, url, resource or None, ifNoneExist or None)
# -> (status, resource or None, location).
EntryRunner = Callable[[str, str, Resource | None, str | None], Awaitable[tuple[int, Resource | None, str | None]]]


def transaction_drafts(bundle: Resource) -> list[tuple[str, Resource]]:
    """A transaction's entries as (method, validated resource with its final id), references rewritten."""
    entries = _entries(bundle)
    assigned: dict[str, str] = {}
    prepared: list[tuple[str, str | None, Resource]] = []
    for index, entry in enumerate(entries):
        method, url, if_none_exist = _request(entry, index)
        if method not in ("POST", "PUT"):
            raise ValidationError(f"entry {index}: a transaction takes POST and PUT; {method} belongs in a batch")
        if if_none_exist is not None:
            raise ValidationError(f"entry {index}: a conditional create (ifNoneExist) belongs in a batch")
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            raise ValidationError(f"entry {index}: no resource")
        resource_type = str(resource.get("resourceType"))
        if method == "POST":
            resource = {**resource, "id": str(uuid.uuid4())}
        else:
            wanted = url.split("/")
            if len(wanted) != 2 or wanted[0] != resource_type or resource.get("id") != wanted[1]:
                raise ValidationError(f"entry {index}: PUT {url} does not name the {resource_type} it carries")
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
            assigned[full_url] = f"{resource_type}/{resource['id']}"
        prepared.append((method, full_url if isinstance(full_url, str) else None, resource))
    result = []
    for index, (method, _full_url, resource) in enumerate(prepared):
        try:
            result.append((method, parse_resource(_rewrite(resource, assigned))))
        except ValidationError as exc:
            raise type(exc)(f"entry {index}: {exc}") from None
    return result


async def run_batch(bundle: Resource, run: EntryRunner) -> Resource:
    """Run each entry of a batch on its own, in order; the `batch-response` Bundle."""
    responses = []
    for index, entry in enumerate(_entries(bundle)):
        try:
            method, url, if_none_exist = _request(entry, index)
            resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else None
            status, body, location = await run(method, url, resource, if_none_exist)
            response: dict[str, Any] = {"status": str(status)}
            if location:
                response["location"] = location
            responses.append({**({"resource": body} if body else {}), "response": response})
        except CareLedgerError as exc:
            status, code = http_status(exc)
            responses.append({"response": {"status": str(status), "outcome": operation_outcome(code, exc.public)}})
    return {"resourceType": "Bundle", "type": "batch-response", "entry": responses}


def transaction_response(results: list[tuple[int, Resource, str]]) -> Resource:
    """The `transaction-response` Bundle of (status, resource, location) per entry, in order."""
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {
                "resource": resource,
                "response": {
                    "status": str(status),
                    "location": location,
                    "etag": f'W/"{resource["meta"]["versionId"]}"',
                },
            }
            for status, resource, location in results
        ],
    }


def _entries(bundle: Resource) -> list[dict[str, Any]]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValidationError("Bundle.entry must be a list of entries")
    return entries


def _request(entry: dict[str, Any], index: int) -> tuple[str, str, str | None]:
    """An entry's method, URL and conditional-create criteria (`ifNoneExist`)."""
    request = entry.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        raise ValidationError(f"entry {index}: request.method is required")
    if_none_exist = request.get("ifNoneExist")
    return (
        request["method"].upper(),
        str(request.get("url", "")).strip("/"),
        str(if_none_exist) if if_none_exist else None,
    )


def _rewrite(value: Any, assigned: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: assigned.get(item, item) if key == "reference" and isinstance(item, str) else _rewrite(item, assigned)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(item, assigned) for item in value]
    return value
