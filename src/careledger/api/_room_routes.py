"""Visit rooms over the API: the ICE servers a browser is to use, and the room's WebSocket.

```
browser ─GET /telehealth/ice-servers─► STUN URLs; with ?appointment=<id> and admitted: TURN URLs too, with a
        credential that ends when the room closes
browser ─WS /telehealth/rooms/<appointment>─► signed in? Origin ours? admitted (rooms.admission)? ─► accept
        ◄──── {"type": "room", …} states, relayed offers, answers, candidates ────►  the peer's browser
```

A connection is signed in by the portal's session cookie (a browser) or a `Bearer` token (any other client),
judged as the API judges a token (a signed-out session's token is revoked). One that is not admitted is refused
before the socket is accepted, with the HTTP status an API request would get (401, 403, 404: an unknown and a
forbidden Appointment alike) or, where the server cannot answer a handshake with a status, the close code
4000 + that status. Who is admitted and what may be sent is decided in `careledger.telehealth`, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from careledger.api._auth import Caller
from careledger.api._deps import Authorization, Deps, call
from careledger.api._responses import error_response
from careledger.errors import (
    CareLedgerError,
    TooLarge,
    TooMany,
    Unauthenticated,
    ValidationError,
    http_status,
)
from careledger.portal import SESSION_COOKIE, check_origin
from careledger.telehealth import ROOM_CLOSED, TOO_FAST, Ending, Rooms, Seat

# The WebSocket's own close codes for a message too big, and one that breaks the protocol.
MESSAGE_TOO_BIG = 1009
POLICY_VIOLATION = 1008
_NORMAL = 1000
_REASON_BYTES = 120  # a close frame's reason is at most 123 bytes


def room_router(deps: Deps) -> APIRouter:
    """`GET /telehealth/ice-servers` and the WebSocket `/telehealth/rooms/{appointment_id}`."""
    router = APIRouter(tags=["telehealth"])
    rooms = deps.node.rooms

    @router.get("/telehealth/ice-servers")
    async def ice_servers(request: Request, appointment: str = "", authorization: Authorization = None) -> JSONResponse:
        """The RTCIceServer list for the caller's browser (`RTCPeerConnection({iceServers})`): the STUN servers; and,
        for a participant admitted now to the room of `appointment` (404 alike for an unknown and a forbidden one,
        403 outside its window), the TURN servers with coturn's credentials made for her, ending when the room
        closes."""
        caller = _signed_in(deps, request, authorization)
        admission = None
        if appointment:
            caller.require("Appointment", "read")
            admission = await call(rooms.admission, deps.accessor(caller, None), appointment)
        servers = rooms.ice_servers(caller.address, admission)
        return JSONResponse({"iceServers": servers}, headers={"Cache-Control": "no-store"})

    @router.websocket("/telehealth/rooms/{appointment_id}")
    async def room(websocket: WebSocket, appointment_id: str) -> None:
        """The signalling connection of one participant of the Appointment's visit room."""
        try:
            caller = _signed_in(deps, websocket, websocket.headers.get("authorization"))
            caller.require("Appointment", "read")
            admission = await call(rooms.admission, deps.accessor(caller, None), appointment_id)
        except CareLedgerError as refused:
            await _refuse(websocket, refused)
            return
        await websocket.accept()
        async with rooms.seat(admission) as seat:
            await _converse(websocket, rooms, seat)

    return router


def _signed_in(deps: Deps, connection: HTTPConnection, authorization: str | None) -> Caller:
    """The caller of a request or handshake: by its `Bearer` token, else by the portal's session cookie, which a
    browser sends only with an `Origin` that must be this node's (another site's page has no business here)."""
    if authorization:
        if connection.headers.get("origin"):
            check_origin(connection, deps.auth.domain)
        return deps.caller(authorization)
    token = connection.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise Unauthenticated("sign in first: the portal's session, or an API token as a Bearer")
    check_origin(connection, deps.auth.domain)
    return deps.caller(f"Bearer {token}")


async def _refuse(websocket: WebSocket, refused: CareLedgerError) -> None:
    """Refuse the handshake: its HTTP status and OperationOutcome, or the close code 4000 + status."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(refused))
    else:
        status, _ = http_status(refused)
        await websocket.close(4000 + status, _reason(refused.public))


async def _converse(websocket: WebSocket, rooms: Rooms, seat: Seat) -> None:
    """Relay between the browser and the room until either ends: the browser hangs up or sends what it must not,
    or the room ends the seat (its window closed, the participant opened it elsewhere)."""
    tasks = {asyncio.create_task(_incoming(websocket, rooms, seat)), asyncio.create_task(_outgoing(websocket, seat))}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


async def _incoming(websocket: WebSocket, rooms: Rooms, seat: Seat) -> None:
    """The browser's messages, each handed to the room; the first it must not send closes the connection."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            if not await rooms.receive(seat, message.get("text") or message.get("bytes") or ""):
                await websocket.close(_NORMAL, "hung up")
                return
        except CareLedgerError as refused:
            await websocket.close(_close_code(refused), _reason(refused.public))
            return


async def _outgoing(websocket: WebSocket, seat: Seat) -> None:
    """What the room has for the browser, in order, until it ends the seat."""
    while True:
        item: dict[str, Any] | Ending = await seat.outbox.get()
        if isinstance(item, Ending):
            await websocket.close(item.code, _reason(item.reason))
            return
        await websocket.send_json(item)


def _close_code(refused: CareLedgerError) -> int:
    """The close code of a message the room refused."""
    if isinstance(refused, TooLarge):
        return MESSAGE_TOO_BIG
    if isinstance(refused, TooMany):
        return TOO_FAST
    if isinstance(refused, ValidationError):
        return POLICY_VIOLATION
    return ROOM_CLOSED  # a patient's admit (AccessDenied)


def _reason(text: str) -> str:
    """`text` cut to fit a close frame."""
    return text.encode()[:_REASON_BYTES].decode(errors="ignore")
