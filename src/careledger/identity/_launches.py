"""EHR launch contexts (SMART App Launch): what a launch id the portal hands an app stands for.

```
staff opens an app from a chart ─mint─► launch id ─► launch_uri?iss=…&launch=id
app: authorize?launch=id ─check─► the page ─she signs─► take (once) ─► code ─► token: patient, encounter
```

A launch id is opaque, random, single use and short-lived, and bound to the app it was made
for and to the staff member who made it: another app, another signer, a second use or a late
one are all refused in the same words as an id never made. Live ids are tickets in the node's
database (`careledger.shared`), so the worker an app's request reaches need not be the one
whose portal page made it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from careledger.errors import AccessDenied
from careledger.shared import Tickets

LAUNCH_SECONDS = 5 * 60
_KIND = "launch"


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """What an EHR launch binds: the app, the staff member who launched it, her patient and encounter."""

    client_id: str
    user: str
    patient: str
    encounter: str | None
    expires_at: float


class Launches:
    """Live launch ids, kept as tickets every worker reads (they last minutes)."""

    def __init__(self, tickets: Tickets, *, clock: Callable[[], float] = time.time) -> None:
        self._tickets = tickets
        self._clock = clock

    def mint(self, client_id: str, user: str, patient: str, encounter: str | None = None) -> str:
        """A new launch id for `client_id`, made by `user` from `patient`'s chart (and `encounter`, if one)."""
        launch_id = secrets.token_urlsafe(24)
        context = LaunchContext(client_id, user, patient, encounter, self._clock() + LAUNCH_SECONDS)
        self._tickets.put(_KIND, launch_id, asdict(context), LAUNCH_SECONDS)
        return launch_id

    def check(self, launch_id: str, client_id: str) -> LaunchContext:
        """The live launch `launch_id` of `client_id`, left live; `AccessDenied` for any other."""
        return self._checked(self._tickets.peek(_KIND, launch_id), client_id)

    def take(self, launch_id: str, client_id: str, user: str) -> LaunchContext:
        """The live launch `launch_id` of `client_id` made by `user`, used up (a second take fails)."""
        context = self._checked(self._tickets.take(_KIND, launch_id), client_id)
        if context.user.lower() != user.lower():
            raise AccessDenied("this launch was made by someone else: launch the app again from the chart")
        return context

    def _checked(self, found: dict[str, Any] | None, client_id: str) -> LaunchContext:
        context = None if found is None else LaunchContext(**found)
        if context is None or context.client_id != client_id or context.expires_at <= self._clock():
            raise AccessDenied("the launch is unknown, used or expired: launch the app again from the chart")
        return context
