"""Messages over FHIR: `Communication/$send`, `$read`, `$receipts`, `$unread`, and the notification stream.

A plain `POST /Communication` is judged by the door as every write is (a patient's message to a practitioner
outside her care team and her visits is refused); `$send` builds the message for the caller (sender, recipients,
thread, attachments) and keeps its read receipts and notifications (`telehealth.Messages`). `GET
/telehealth/events` is the signed-in caller's server-sent event stream: `message` events (a thread's id and her
unread count, never a message's text) and whatever else the node notifies her of (`reminder`, `visit`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from careledger.api._deps import Authorization, Deps, PurposeOfUse, body_of, call
from careledger.api._responses import fhir_response
from careledger.errors import CareLedgerError, ValidationError
from careledger.fhir import loads_object
from careledger.telehealth import Attachment, Receipt, Unread

EVENT_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def communication_router(deps: Deps) -> APIRouter:
    """The message operations on Communication, and the caller's notification stream."""
    router = APIRouter(tags=["messages"])
    node = deps.node

    @router.post("/Communication/$send", status_code=201)
    async def send(request: Request, authorization: Authorization = None, purpose: PurposeOfUse = None) -> JSONResponse:
        """Send a message: a Parameters body with `text`, and `patient` (a Patient reference: a new thread) or
        `thread` (a Communication's id: a reply), `to` (a practitioner's wallet; repeated) and `attachment` (an
        Attachment with inline `data`: PNG, JPEG, GIF or PDF; repeated). 201 with the Communication; 403 for a
        recipient the patient may not write to; 404 alike for an unknown and a withheld Patient or thread; 400
        or 413 for a bad or oversized attachment."""
        accessor = deps.signed_in(authorization, purpose, "Communication", "write")
        given = _parameters(loads_object(await body_of(request)))
        door = node.access.for_caller(accessor)
        sent = await call(
            node.messages.send,
            door,
            _one(given, "text") or "",
            patient=_reference(_one(given, "patient"), "Patient"),
            thread=_reference(_one(given, "thread"), "Communication"),
            to=[str(v) for v in given.get("to", [])],
            attachments=[Attachment.of(_attachment(v)) for v in given.get("attachment", [])],
        )
        location = f"{request.base_url}Communication/{sent['id']}/_history/{sent['meta']['versionId']}"
        return fhir_response(sent, 201, {"Location": location})

    @router.post("/Communication/{communication_id}/$read")
    async def read(
        communication_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Mark a message sent to the caller read (a read receipt; a second time keeps the first time): Parameters
        with `reader` and `readAt`. 404 alike for an unknown id, one she may not read and one not sent to her."""
        accessor = deps.signed_in(authorization, purpose, "Communication", "read")
        receipt = await call(node.messages.mark_read, node.access.for_caller(accessor), communication_id)
        return fhir_response(_receipts([receipt]))

    @router.get("/Communication/{communication_id}/$receipts")
    async def receipts(
        communication_id: str, authorization: Authorization = None, purpose: PurposeOfUse = None
    ) -> JSONResponse:
        """Who of a message's participants has read it and when: Parameters with a `receipt` part each. 404 alike
        for an unknown id and one the caller may not read."""
        accessor = deps.signed_in(authorization, purpose, "Communication", "read")
        found = await call(node.messages.receipts, node.access.for_caller(accessor), communication_id)
        return fhir_response(_receipts(found))

    @router.get("/Communication/$unread")
    async def unread(authorization: Authorization = None) -> JSONResponse:
        """The caller's unread messages: Parameters with `unread` (in all) and a `thread` part per thread."""
        caller = deps.caller(authorization)
        caller.require("Communication", "read")
        return fhir_response(_unread(await call(node.messages.unread, caller.address)))

    @router.get("/telehealth/events")
    async def events(authorization: Authorization = None) -> StreamingResponse:
        """The caller's notifications as server-sent events (`text/event-stream`): her unread count at once, then
        `message`, `reminder` and `visit` events as they come (at whichever worker they were written), a comment
        every 15 seconds; an `end` event once her token expires or is revoked. 401 without a valid token; 429
        past a few streams at once."""
        return await _event_stream(deps, authorization)

    return router


async def _event_stream(deps: Deps, authorization: str | None) -> StreamingResponse:
    """The caller's stream (`GET /telehealth/events`): subscribed before it starts, so a refusal is an answer."""
    caller = deps.caller(authorization)
    caller.require("Communication", "read")

    async def signed_in() -> bool:
        """Whether the token still holds (unexpired, unrevoked)."""
        try:
            await call(deps.auth.caller, authorization)
        except CareLedgerError:
            return False
        return True

    loop = asyncio.get_running_loop()
    events = await call(deps.node.messages.notifications, caller.address, loop, signed_in)
    return StreamingResponse(events, media_type="text/event-stream", headers=EVENT_HEADERS)


def _parameters(data: dict[str, Any]) -> dict[str, list[Any]]:
    """A Parameters resource's values by name (each name's values in order); `ValidationError` for another body."""
    if data.get("resourceType") != "Parameters" or not isinstance(data.get("parameter", []), list):
        raise ValidationError("this operation takes a FHIR Parameters resource")
    found: dict[str, list[Any]] = {}
    for parameter in data.get("parameter", []):
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise ValidationError("each parameter needs a name")
        value = next((v for k, v in parameter.items() if k.startswith("value")), None)
        if isinstance(value, dict) and "reference" in value:
            value = value["reference"]
        found.setdefault(parameter["name"], []).append(value)
    return found


def _one(given: dict[str, list[Any]], name: str) -> str | None:
    """The one string value of parameter `name`, if given."""
    values = given.get(name, [])
    if len(values) > 1 or (values and not isinstance(values[0], str)):
        raise ValidationError(f"{name} is one string")
    return values[0] if values else None


def _reference(value: str | None, kind: str) -> str | None:
    """The id of a `kind/<id>` reference or a bare id."""
    if value is None:
        return None
    prefix, _, record_id = value.strip().rpartition("/")
    if (prefix and prefix != kind) or not record_id or len(record_id) > 64:
        raise ValidationError(f"not a {kind} reference: {value[:80]!r}")
    return record_id


def _attachment(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("an attachment is a FHIR Attachment (valueAttachment) with inline data")
    return value


def _receipts(found: list[Receipt]) -> dict[str, Any]:
    """Receipts as a Parameters resource: a `receipt` part each (reader, read, readAt)."""
    parts = []
    for receipt in found:
        shown = receipt.as_json()
        part: list[dict[str, Any]] = [
            {"name": "reader", "valueString": shown["reader"]},
            {"name": "read", "valueBoolean": shown["read"]},
        ]
        if shown["readAt"] is not None:
            part.append({"name": "readAt", "valueInstant": shown["readAt"]})
        parts.append({"name": "receipt", "part": part})
    return {"resourceType": "Parameters", "parameter": parts}


def _unread(unread: Unread) -> dict[str, Any]:
    """Unread counts as a Parameters resource."""
    threads = [
        {
            "name": "thread",
            "part": [{"name": "id", "valueString": thread}, {"name": "unread", "valueInteger": count}],
        }
        for thread, count in unread.threads.items()
    ]
    return {"resourceType": "Parameters", "parameter": [{"name": "unread", "valueInteger": unread.total}, *threads]}
