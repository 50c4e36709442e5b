"""EHR launch contexts (SMART App Launch): what a launch id the portal hands an app stands for.

```
staff opens an app from a chart ─mint─► launch id ─► launch_uri?iss=…&launch=id
app: authorize?launch=id ─check─► the page ─she signs─► take (once) ─► code ─► token: patient, encounter
```

A launch id is opaque, random, single use and short-lived, and bound to the app it was made
for and to the staff member who made it: another app, another signer, a second use or a late
one are all refused in the same words as an id never made.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from careledger.errors import AccessDenied

LAUNCH_SECONDS = 5 * 60


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """What an EHR launch binds: the app, the staff member who launched it, her patient and encounter."""

    client_id: str
    user: str
    patient: str
    encounter: str | None
    expires_at: float


class Launches:
    """Live launch ids, in memory like authorization codes (a restart ends them; they last minutes)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._live: dict[str, LaunchContext] = {}
        self._lock = threading.Lock()

    def mint(self, client_id: str, user: str, patient: str, encounter: str | None = None) -> str:
        """A new launch id for `client_id`, made by `user` from `patient`'s chart (and `encounter`, if one)."""
        launch_id = secrets.token_urlsafe(24)
        now = self._clock()
        with self._lock:
            self._live = {k: v for k, v in self._live.items() if v.expires_at > now}
            self._live[launch_id] = LaunchContext(client_id, user, patient, encounter, now + LAUNCH_SECONDS)
        return launch_id

    def check(self, launch_id: str, client_id: str) -> LaunchContext:
        """The live launch `launch_id` of `client_id`, left live; `AccessDenied` for any other."""
        with self._lock:
            found = self._live.get(launch_id)
        return self._checked(found, client_id)

    def take(self, launch_id: str, client_id: str, user: str) -> LaunchContext:
        """The live launch `launch_id` of `client_id` made by `user`, used up (a second take fails)."""
        with self._lock:
            found = self._live.pop(launch_id, None)
        context = self._checked(found, client_id)
        if context.user.lower() != user.lower():
            raise AccessDenied("this launch was made by someone else: launch the app again from the chart")
        return context

    def _checked(self, found: LaunchContext | None, client_id: str) -> LaunchContext:
        if found is None or found.client_id != client_id or found.expires_at <= self._clock():
            raise AccessDenied("the launch is unknown, used or expired: launch the app again from the chart")
        return found
