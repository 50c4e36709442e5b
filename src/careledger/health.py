"""Whether a node can serve, and how far its background work lags: what `/readyz` and `/metrics` ask.

```
/readyz ─► Probe(database) ─┐  each in a thread of its own, at most one at a time per probe:
           Probe(chain)    ─┤  a hung PostgreSQL or chain leaves its thread waiting, never the
           Probe(blobs)    ─┤  request, which is answered when the bound (`ready_timeout`) is up
           Probe(leader)   ─┘  with "no answer within …" for whatever has not answered
```

A probe's answer names nothing of the deployment (no URL, host or error text): an unauthenticated
caller learns only which part is not ready. The cause goes to the node's log, once when a part
stops answering and once when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import text

from careledger.crypto import content_id
from careledger.log_format import told

if TYPE_CHECKING:
    from careledger.node import Node

_T = TypeVar("_T")
_log = logging.getLogger("careledger.health")


class NotReady(Exception):
    """A part answered, and its answer is that it cannot serve (its message is safe to show anyone)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One part's readiness: `detail` is "ok" or why not, in words safe to show anyone."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Backlog:
    """How far the node's background work lags, as read from its database (and the chain's head)."""

    records_waiting: int
    records_oldest_seconds: float
    audit_waiting: int
    audit_oldest_seconds: float
    consent_blocks_behind: int | None
    """None when the chain did not answer in time."""


class Probe(Generic[_T]):
    """Asks one part, at most one question at a time: callers while a question is out share its answer."""

    def __init__(self, name: str, ask: Callable[[], _T]) -> None:
        self.name = name
        self._ask = ask
        self._lock = threading.Lock()
        self._out: Future[_T] | None = None
        self._state = StateLog(f"readiness: {name} is not ready", f"readiness: {name} is back")

    def start(self) -> Future[_T]:
        """The answer to the question out, or to a new one."""
        with self._lock:
            if self._out is None or self._out.done():
                self._out = Future()
                threading.Thread(
                    target=self._run, args=(self._out,), name=f"careledger-probe-{self.name}", daemon=True
                ).start()
            return self._out

    def ask(self, timeout: float) -> _T:
        """The part's answer within `timeout` seconds; `TimeoutError` if none came, or what it raised."""
        return self.start().result(timeout)

    def _run(self, answer: Future[_T]) -> None:
        try:
            answer.set_result(self._ask())
        except BaseException as exc:  # handed to whoever waits, as the part's answer
            answer.set_exception(exc)

    def result(self, answer: Future[_T], timeout: float) -> CheckResult:
        """What `answer` (from `start`) says of this part's readiness, logging a change of state with its cause."""
        if not answer.done():
            failure: BaseException | None = TimeoutError()
            detail = f"no answer within {timeout:g} s"
        elif (failure := answer.exception()) is None:
            detail = "ok"
        elif isinstance(failure, NotReady):
            detail = str(failure)
        else:
            detail = f"unreachable ({type(failure).__name__})"
        self._state.note(failure, detail)
        return CheckResult(self.name, failure is None, detail)


class StateLog:
    """A part's failing told to the log once when it starts, with its cause in one line, and once when it ends: a
    traceback at every probe or scrape while PostgreSQL is away tells nothing more."""

    def __init__(self, failing: str, back: str) -> None:
        self._failing_line = failing
        self._back_line = back
        self._failing = False
        self._lock = threading.Lock()

    def note(self, failure: BaseException | None, detail: str) -> None:
        """Note the part's latest answer: `failure` (None: it answered), and `detail`, what it says of it."""
        with self._lock:
            changed = (failure is not None) != self._failing
            self._failing = failure is not None
        if not changed:
            return
        if failure is None:
            _log.info("%s", self._back_line)
        else:
            _log.warning("%s: %s (%s)", self._failing_line, detail, _cause(failure))


async def settle(probes: Mapping[str, Probe[object]], timeout: float) -> list[CheckResult]:
    """Every probe's answer, waiting `timeout` seconds at most for all of them together."""
    started = {name: probe.start() for name, probe in probes.items()}
    waiting = [asyncio.wrap_future(answer) for answer in started.values() if not answer.done()]
    if waiting:
        await asyncio.wait(waiting, timeout=timeout)
    for future in waiting:  # an answer that comes later is nobody's: leave it unread quietly
        future.add_done_callback(_discard)
    return [probes[name].result(answer, timeout) for name, answer in started.items()]


def _cause(failure: BaseException) -> str:
    """What the operator's log says of a failure: its type and first line (of a database's error, its SQLSTATE)."""
    text = told(failure).strip().splitlines()
    return f"{type(failure).__name__}: {text[0]}" if text else type(failure).__name__


def _discard(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


class Health:
    """The node's readiness probes and the reading of its backlog, each bounded by `timeout` seconds."""

    def __init__(
        self,
        probes: Mapping[str, Probe[object]],
        backlog: Callable[[], tuple[tuple[int, float], tuple[int, float]]],
        consent_lag: Callable[[], int],
        *,
        timeout: float,
    ) -> None:
        self.probes = dict(probes)
        self.timeout = timeout
        self._backlog = Probe("backlog", backlog)
        self._backlog_state = StateLog("the backlog could not be read for /metrics", "the backlog is read again")
        self._consent_lag = Probe("consent-lag", consent_lag)

    @classmethod
    def of(cls, node: Node, has_blob: Callable[[str], bool]) -> Health:
        """The probes of `node`'s database, chain and blob store (asked by `has_blob`), and the reading of its
        backlog."""

        def database() -> None:
            """The database answers a query."""
            with node.db.reading() as connection:
                connection.execute(text("SELECT 1"))

        def blob_store() -> None:
            """The blob store answers whether it holds a blob."""
            has_blob(_PROBE_CID)  # a directory that cannot be read, or a table that cannot be reached, raises

        probes: dict[str, Probe[object]] = {
            "database": Probe("database", database),
            "chain": Probe("chain", lambda: node.chain.block_number()),
            "blobs": Probe("blobs", blob_store),
        }
        return cls(
            probes,
            lambda: (node.anchorer.backlog(), node.audit_anchorer.backlog()),
            lambda: node.consent.blocks_behind(),
            timeout=node.settings.ready_timeout,
        )

    def backlog(self) -> Backlog | None:
        """How far the background work lags; None if the database did not answer within the bound (logged). The
        consent index's lag is None alone when the chain does not answer."""
        started = time.monotonic()
        consent_lag = self._consent_lag.start()  # asked of the chain while the database is asked
        try:
            (records, records_age), (audit, audit_age) = self._backlog.ask(self.timeout)
        except Exception as exc:
            self._backlog_state.note(exc, "unreadable")
            return None
        self._backlog_state.note(None, "ok")
        try:
            behind: int | None = consent_lag.result(max(0.0, self.timeout - (time.monotonic() - started)))
        except Exception:
            behind = None
        return Backlog(records, records_age, audit, audit_age, behind)


# The content id of no bytes: asked for (a valid id), never expected to be there.
_PROBE_CID = content_id(b"")
