"""Who insures whom, remembered until the chain enrols a member again; and the events that tell it.

```
insurer(member) ─► the chain's MemberEnrolled events since the last look ─► forget the members they name
   ─► remembered? ─► else Plans.plan_of (enrolment, then the plan's insurer) ─► remembered
```

The Coverage view and the payer rule ask who insures a patient on every request; asking the chain each time
cost two calls per patient. Only an enrolment changes the answer (an enrolment's end does not: the chain
keeps the plan), and each one logs `MemberEnrolled`, so the answer is kept until such an event names her.
"""

from __future__ import annotations

from collections.abc import Callable
from threading import Lock
from typing import Any

from careledger.chain import Claims
from careledger.claims._plans import Plans


class EventWatch:
    """The Claims contract's events of one kind in the blocks since the last look."""

    def __init__(self, claims: Callable[..., Claims], event: str) -> None:
        self._claims = claims
        self._event = event
        self._block = -1  # the last block looked at (-1: none yet)
        self._lock = Lock()

    def since(self) -> list[Any] | None:
        """The events logged since the last look; None on the first (whatever was remembered before is stale)."""
        claims = self._claims()
        with self._lock:
            head, last = claims.chain.block_number(), self._block
            self._block = head
            if last < 0:
                return None
            if head == last:
                return []
            return list(getattr(claims.contract.events, self._event)().get_logs(from_block=last + 1, to_block=head))


class Enrolments:
    """Members' plans' insurers from the chain, kept until a `MemberEnrolled` event names the member."""

    def __init__(self, claims: Callable[..., Claims], plans: Plans) -> None:
        self._plans = plans
        self._enrolled = EventWatch(claims, "MemberEnrolled")
        self._insurers: dict[str, str | None] = {}  # member -> her plan's insurer (None: not enrolled)

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan; None if she is not enrolled."""
        events = self._enrolled.since()
        if events is None:
            self._insurers.clear()
        for event in events or []:
            self._insurers.pop(str(event["args"]["member"]), None)
        if member not in self._insurers:
            self._insurers[member] = self._plans.plan_of(member)[1]
        return self._insurers[member]
