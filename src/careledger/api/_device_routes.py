"""Devices and alerts: signed readings over HTTP, and the care team's stream of alerts.

`POST /devices/readings` is for devices that cannot speak MQTT: the body is signed frames
(application/octet-stream), and each frame's device signature is its authentication, so
there is no sign-in; the path is rate-limited and its bodies small, as every open path's.
`GET /alerts/stream` is a server-sent event stream of device alerts: each is sent only if
the caller may read its Flag, read through the guarded repository (so audited too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from careledger.api._deps import Authorization, Deps, body_of, call
from careledger.errors import AccessDenied, NotFound, ValidationError
from careledger.iot import Alert, Refusal

KEEP_ALIVE_SECONDS = 15.0


def device_router(deps: Deps) -> APIRouter:
    """The device readings endpoint and the alert stream."""
    router = APIRouter(tags=["devices"])
    node = deps.node

    @router.post("/devices/readings")
    async def post_readings(request: Request) -> JSONResponse:
        """Take signed reading frames; what was accepted, and what refused by reason (in readings). 400 for a
        body that is not frames, or that holds a value no body could show (the device is broken: it must hear
        of it, where a replay or a reading outside the time window is routine)."""
        result = await call(node.intake.accept, await body_of(request))
        if result.refused.get(Refusal.MALFORMED.value):
            raise ValidationError("the body is not signed reading frames (see docs/devices.md for the layout)")
        implausible = result.refused.get(Refusal.IMPLAUSIBLE.value, 0)
        if implausible:
            others = result.refused.total() - implausible
            raise ValidationError(
                f"{implausible} reading(s) refused: a value outside what a body can show for its code (see "
                f"docs/devices.md); {result.accepted} accepted, {others} refused otherwise"
            )
        return JSONResponse(result.as_json())

    @router.get("/alerts/stream")
    async def alert_stream(
        authorization: Authorization = None,
        purpose: Annotated[str | None, Header(alias="X-Purpose-Of-Use")] = None,
    ) -> StreamingResponse:
        """Device alerts as they are raised (`text/event-stream`), each one the caller may read."""
        accessor = deps.signed_in(authorization, purpose, "Flag", "read")
        raised: asyncio.Queue[Alert] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        stop = node.monitor.listen(lambda alert: loop.call_soon_threadsafe(raised.put_nowait, alert))

        async def events() -> AsyncIterator[str]:
            """Each alert the caller may read, as an `alert` event, with a comment now and then to keep it open."""
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        alert = await asyncio.wait_for(raised.get(), KEEP_ALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    try:
                        flag = await call(node.access.for_caller(accessor).read, alert.flag.removeprefix("Flag/"))
                    except (AccessDenied, NotFound):
                        continue
                    data = json.dumps({**alert.as_json(), "resource": flag})
                    yield f"event: alert\nid: {flag['id']}\ndata: {data}\n\n"
            finally:
                stop()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    return router
