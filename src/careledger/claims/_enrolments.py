"""Who insures whom, remembered until the chain enrols a member again; and the events that tell it.

```
node's background loop, once a second ─► follow(): MemberEnrolled events since the last look ─► forget them
insurer(member) ─► remembered? ─► else Plans.plan_of (enrolment, then the plan's insurer) ─► remembered
```

The Coverage view and the payer rule ask who insures a patient on every request; asking the chain each time
cost two calls per patient. Only an enrolment changes the answer (an enrolment's end does not: the chain
keeps the plan), and each one logs `MemberEnrolled`, so the answer is kept until such an event names her.
The events are followed by the node's background loop, never inside a decision: a decision on the event loop
would otherwise wait for the chain, and a known id would cost a round trip an unknown one does not.
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

    def follow(self, apply: Callable[[list[Any] | None], None]) -> None:
        """`apply` the events logged since the last look (None on the first: whatever was remembered before is
        stale), the look and its applying one step: a second follower waits, so none applies events older than
        what another already applied."""
        claims = self._claims()
        with self._lock:
            head, last = claims.chain.block_number(), self._block
            if last < 0:
                events = None
            elif head == last:
                events = []
            else:
                kind = getattr(claims.contract.events, self._event)
                events = list(kind().get_logs(from_block=last + 1, to_block=head))
            apply(events)
            self._block = head


class Enrolments:
    """Members' plans' insurers from the chain, kept until a `MemberEnrolled` event names the member."""

    def __init__(self, claims: Callable[..., Claims], plans: Plans) -> None:
        self._plans = plans
        self._enrolled = EventWatch(claims, "MemberEnrolled")
        self._insurers: dict[str, str | None] = {}  # member -> her plan's insurer (None: not enrolled)
        self._forgotten = 0  # how many times members were forgotten: an answer asked before one is not kept
        self._lock = Lock()  # one look at the events is taken and applied whole, and no answer read half-way

    def follow(self) -> None:
        """Forget the members the chain enrolled since the last look (everyone on the first): the node's
        background loop calls this, the only place the events are looked at."""
        self._enrolled.follow(self._forget)

    def _forget(self, events: list[Any] | None) -> None:
        with self._lock:
            if events is None or events:
                self._forgotten += 1
            if events is None:
                self._insurers.clear()
            for event in events or []:
                self._insurers.pop(str(event["args"]["member"]), None)

    def insurer(self, member: str) -> str | None:
        """The insurer of `member`'s plan; None if she is not enrolled."""
        with self._lock:
            if member in self._insurers:
                return self._insurers[member]
            asked = self._forgotten
        insurer = self._plans.plan_of(member)[1]
        with self._lock:
            if asked == self._forgotten:  # no enrolment followed since she was asked: the answer is current
                self._insurers[member] = insurer
        return insurer
