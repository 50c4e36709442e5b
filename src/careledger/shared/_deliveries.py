"""What this node sends other nodes and keeps until it arrives: each a ticket of its kind, tried at once, then again
by the leader's round, each wait twice the last.

```
send(key, pending) ─► a ticket (kind, key) ─► deliver(pending) ─► arrived: ticket taken
                                             └► failed: kept with why, due again after FIRST_WAIT·2ⁿ (≤ MAX_WAIT)
retry(at) ─► every ticket of the kind that is due ─► deliver again (until it arrives or the ticket expires)
```

A shipment's notice (`careledger.supplychain`) and a trial's safety report (`careledger.trials`) go this way: what
is delivered, and what makes it arrived, is the caller's `deliver` (it raises to say it did not arrive).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from careledger.errors import CareLedgerError
from careledger.shared._tickets import Tickets

_log = logging.getLogger(__name__)

# Delivers one pending value (what `send` was given): returns once it arrived (or needs delivering no more), raises
# why it did not.
Deliver = Callable[[dict[str, Any]], None]


class Deliveries:
    """The deliveries of one kind this node keeps until they arrive (module docstring)."""

    def __init__(
        self,
        tickets: Tickets,
        kind: str,
        deliver: Deliver,
        *,
        keep_days: float,
        first_wait: float,
        max_wait: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`kind` names the tickets; each is kept `keep_days` at most; an attempt that failed waits `first_wait`
        seconds before the next, twice as long after each further failure, `max_wait` at most."""
        self._tickets = tickets
        self.kind = kind
        self._deliver = deliver
        self._keep = keep_days * 86_400
        self._first_wait = first_wait
        self._max_wait = max_wait
        self._clock = clock

    def send(self, key: str, pending: dict[str, Any]) -> str | None:
        """Keep `pending` under `key`, then deliver it: None if it arrived, else why it waits."""
        kept = {**pending, "key": key, "attempts": 0, "next": 0.0}
        self._tickets.put(self.kind, key, kept, self._keep)
        return self._attempt(kept, self._clock())

    def waiting(self, key: str) -> dict[str, Any] | None:
        """What waits under `key` (its `why`, once an attempt failed, and `attempts`); None once it arrived (or was
        never kept)."""
        return self._tickets.peek(self.kind, key)

    def every(self) -> list[dict[str, Any]]:
        """Everything of this kind still waiting."""
        return self._tickets.every(self.kind)

    def retry(self, *, at: float | None = None) -> int:
        """Deliver again each one due (as of `at`, now unless given): the leader's round. How many arrived."""
        now = self._clock() if at is None else at
        due = [pending for pending in self.every() if float(pending.get("next", 0)) <= now]
        return sum(self._attempt(pending, now) is None for pending in due)

    def _attempt(self, pending: dict[str, Any], now: float) -> str | None:
        """One attempt: delivered (the ticket taken), or kept with why it failed and when to try again."""
        key = str(pending["key"])
        try:
            self._deliver(pending)
        # What was done stands whatever befell its delivery: every failure keeps it, to be sent again.
        except Exception as exc:
            if not isinstance(exc, CareLedgerError):
                _log.exception("%s %s failed", self.kind, key)
            attempts = int(pending.get("attempts", 0)) + 1
            why = str(exc)[:300] or type(exc).__name__
            later = {**pending, "attempts": attempts, "why": why}
            later["next"] = now + min(self._max_wait, self._first_wait * 2 ** (attempts - 1))
            self._tickets.replace(self.kind, key, later, self._keep)
            level = logging.INFO if attempts == 1 else logging.DEBUG  # once at its level: not every round
            _log.log(level, "%s %s waits (attempt %d): %s", self.kind, key, attempts, why)
            return why
        self._tickets.take(self.kind, key)
        return None
