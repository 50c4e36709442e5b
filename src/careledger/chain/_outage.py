"""Riding out a chain that stops answering, for a node that serves for days.

```
  request ──► Outage.admit ── down, no retry due (or one under way) ──► ChainUnavailable at once (503)
                │ up, or this request is the retry that is due
                ▼
              the backend reconnects (anvil: restarts it, or finds the restarted `chain up`) ──► send
                │ refused                                        │ answered
                ▼                                                ▼
              Outage.failed: down; the next retry after         Outage.answered: up again; signers
              a doubled delay, 0.25 s up to 4 s                 read their nonces afresh
```

An outage is logged once when it starts, with its cause; then, while it lasts, a line at
longer and longer intervals; and once when the chain answers again: a few lines, not a
traceback per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from careledger.errors import ChainUnavailable

_log = logging.getLogger("careledger.chain")
# A command that fails on a dead chain says so in its own one line; only `serve` shows this log.
_log.addHandler(logging.NullHandler())

# Seconds before the first retry, and the most between two: a chain that is back is found
# within 4 s of its return (by the next request; `serve`'s background round makes one a second).
FIRST_RETRY = 0.25
MAX_RETRY = 4.0

# Seconds into an outage of the first "still unavailable" line, and the most between two.
FIRST_REPORT = 10.0
MAX_REPORT = 600.0


class Outage:
    """Whether one connection's chain is down, since when and why, shared by every thread using it."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._cause = ""
        self._delay = FIRST_RETRY
        self._next_try = 0.0
        self._report_every = FIRST_REPORT
        self._next_report = 0.0
        self._trying = False
        self.recoveries = 0
        """How many outages have ended: a signer whose nonce count is older reads it again."""

    @property
    def down(self) -> bool:
        """Whether the last request failed to reach the chain."""
        return self._since is not None

    def admit(self) -> bool:
        """Before a request. False: the chain is up, send it. True: it is down and this request is the retry
        that is due, so reconnect first (then `settle`). `ChainUnavailable` at once while a retry is not due
        or another thread is making it."""
        if self._since is None:
            return False
        with self._lock:
            if self._since is None:
                return False
            now = self._clock()
            if self._trying or now < self._next_try:
                raise ChainUnavailable(f"{self._cause} (unavailable for {now - self._since:.0f} s; retrying)")
            self._trying = True
            return True

    def settle(self) -> None:
        """The retry `admit` allowed is over, whatever its outcome."""
        with self._lock:
            self._trying = False

    def failed(self, error: ChainUnavailable, *, retry: bool) -> ChainUnavailable:
        """A request did not reach the chain: note the outage (logged when it starts) and schedule the next
        retry, later after each failed one; the error, for the caller to raise."""
        with self._lock:
            now = self._clock()
            self._cause = str(error)
            if self._since is None:
                self._since = now
                self._delay = FIRST_RETRY
                self._report_every = FIRST_REPORT
                self._next_report = now + FIRST_REPORT
                _log.error("chain unavailable: %s; retrying with backoff", error)
            elif retry:
                self._delay = min(2 * self._delay, MAX_RETRY)
                if now >= self._next_report:
                    _log.warning(
                        "chain still unavailable after %.0f s: %s; retrying every %.0f s",
                        now - self._since,
                        error,
                        self._delay,
                    )
                    self._report_every = min(2 * self._report_every, MAX_REPORT)
                    self._next_report = now + self._report_every
            self._next_try = now + self._delay
        return error

    def answered(self, url: str | None) -> None:
        """A request reached the chain: an outage, if there was one, is over (logged once)."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            _log.warning("chain reachable again at %s after %.1f s", url, self._clock() - self._since)
            self._since = None
            self.recoveries += 1
