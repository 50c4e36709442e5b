"""`/portal/events`: the signed-in browser's notifications (new messages, reminders, visits) as server-sent events.

The portal's session is a cookie a page's `EventSource` sends by itself, where the API's stream
(`/telehealth/events`) wants a `Bearer` token no browser adds to one. Both answer with the same stream
(`telehealth.Messages.notifications`): ids and counts, never a message's text; it ends once the session is signed
out, at whichever worker, or has expired.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from careledger.portal._pages import Pages
from careledger.services import Services

EVENT_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event_routes(router: APIRouter, node: Services, pages: Pages) -> None:
    """The notification stream of the signed-in browser on `router`."""
    sessions = pages.sessions

    @router.get("/portal/events")
    async def events(request: Request) -> StreamingResponse:
        """The signed-in person's notifications (`text/event-stream`): her unread count at once, then `message`,
        `reminder` and `visit` events; an `end` event when her session ends. The sign-in page's refusal for a
        browser not signed in; 429 past a few streams at once."""
        caller = (await sessions.visit(request)).signed_in

        async def signed_in() -> bool:
            """Whether the browser's session still holds (not signed out anywhere, not expired)."""
            return (await sessions.visit(request)).caller is not None

        loop = asyncio.get_running_loop()
        stream = await run_in_threadpool(node.messages.notifications, caller.address, loop, signed_in)
        return StreamingResponse(stream, media_type="text/event-stream", headers=EVENT_HEADERS)
