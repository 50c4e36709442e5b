"""A database outage answered 503 with `Retry-After`, on every route, instead of a 500 and a traceback.

```
request ─► DatabaseOutages ─► the app ─ raises a lost or refused connection (careledger.outages) ─┐
                 ▲                                                                               │
                 └──── 503 OperationOutcome (transient) + Retry-After, one warning line ◄────────┘
```

It sits just inside `RequestLog`, so the access log and the metrics count the 503; anything else raised
passes on to `RequestLog`, which answers 500 and logs it. The portal's pages answer an outage as a page
of their own (`careledger.portal`), before it gets here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careledger.errors import CareLedgerError
from careledger.outages import database_outage

_log = logging.getLogger("careledger.api")


class DatabaseOutages:
    """ASGI middleware: a request that failed because the database is out of reach is answered 503."""

    def __init__(self, app: ASGIApp, *, error: Callable[[CareLedgerError], Response]) -> None:
        self.app = app
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            unavailable = database_outage(exc)
            if unavailable is None or started:
                raise
            _log.warning("database unavailable: %s", type(exc).__name__)  # its text may hold a query's values
            await self._error(unavailable)(scope, receive, send)
