"""What the background loop of `serve` says about its rounds failing: once when trouble starts, once when it ends.

```
round ─► failed: the database out of reach ─► first time: "database unavailable: <cause>" (error)
   │             anything else             ─► first time this error: its traceback (error), then silence
   │                                           while the same error repeats each second
   └──► succeeded ─► after an outage: "database reachable again after N s" (warning)
                     after errors: "background rounds succeed again after N s" (warning)
```

A round runs every second, so an error logged per round buried everything else in the journal; the
chain's outages are told the same way by `chain/_outage.py`. The database's cause is its driver's one
line (libpq's "connection refused"), never SQLAlchemy's text, which carries the statement's values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from careledger.outages import database_outage


class RoundLog:
    """The state of the background rounds as the log has told it: failing since when, and with what."""

    def __init__(self, log: logging.Logger, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._clock = clock
        self._database_since: float | None = None
        self._error: tuple[str, str] | None = None
        self._error_since = 0.0

    def failed(self, error: Exception) -> None:
        """A round raised `error`: told if it starts an outage or is a new error, else kept quiet."""
        if database_outage(error) is not None:
            if self._database_since is None:
                self._database_since = self._clock()
                self._log.error(
                    "database unavailable: %s; the background work waits for it, retrying every round", _cause(error)
                )
            return
        seen = (type(error).__name__, str(error))
        if seen != self._error:
            if self._error is None:
                self._error_since = self._clock()
            self._error = seen
            self._log.error(
                "background round failed; retrying each round, told again if the error changes", exc_info=error
            )

    def succeeded(self) -> None:
        """A round went through: an outage or a run of errors, if there was one, is over (told once)."""
        now = self._clock()
        if self._database_since is not None:
            self._log.warning("database reachable again after %.1f s", now - self._database_since)
            self._database_since = None
        if self._error is not None:
            self._log.warning("background rounds succeed again after %.1f s", now - self._error_since)
            self._error = None


def _cause(error: BaseException) -> str:
    """The database driver's own first line for `error` (or the first such one it was raised from)."""
    seen: BaseException | None = error
    while seen is not None:
        original = getattr(seen, "orig", None)
        if isinstance(original, BaseException):
            first = next(iter(str(original).strip().splitlines()), "")
            return f"{type(original).__name__}: {first}" if first else type(original).__name__
        seen = seen.__cause__ or seen.__context__
    return type(error).__name__
