"""`careledger serve --workers N`: N processes serving one port, each a whole node, one leading its background work.

```
parent: bind the port ─ keep the chain ─ unlock the node wallet once ─┬─ spawn worker 1: NodeServer(socket) ─┐
                                                                      └─ spawn worker N: NodeServer(socket) ─┤
        watch: a worker that dies is spawned again             the kernel hands each connection to one ◄─┘
SIGTERM / Ctrl-C ─► every worker stops taking requests ─► the leader anchors what is pending ─► parent exits
```

A worker gets the passphrase through the spawn pipe (pickled with its arguments), never in its
argv or environment. Workers keep nothing of their own that another needs: what they share lives
in PostgreSQL, and which of them does the background work is `Leadership`'s advisory lock.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from careledger.api._server import NodeServer
from careledger.config import Home, Settings
from careledger.errors import CareLedgerError
from careledger.services import open_operations

START_SECONDS = 120.0  # a worker opens the node (its database, chain, keys) before it serves
STOP_SECONDS = 60.0  # requests in flight finish and the leader anchors; then a worker is killed
HEARTBEAT_SECONDS = 2.0
_MAX_BACKOFF = 30.0  # a worker that keeps dying at start is spawned again at most this often
_STEADY_SECONDS = 10.0  # a worker that served this long before dying is spawned again at once
_log = logging.getLogger("careledger.serve")


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker needs to open the node and serve it: sent to it through the spawn pipe."""

    home: Path
    settings: Settings
    passphrase: str = field(repr=False)
    host: str
    domain: str
    logging: Callable[[], AbstractContextManager[None]]
    """How the worker logs: the same as its parent (a module-level function, so that it pickles)."""


def needs_shared_database(settings: Settings, home: Home) -> bool:
    """Whether this node's database is one that only one process may write (SQLite): several workers need
    PostgreSQL."""
    return not settings.db_url(home).startswith(("postgres://", "postgresql://", "postgresql+"))


class Workers:
    """The parent of `serve --workers N`: starts the workers, starts again any that dies, stops them all."""

    def __init__(self, spec: WorkerSpec, sock: socket.socket, count: int) -> None:
        self._spec = spec
        self._socket = sock
        self._slots = [_Slot(number) for number in range(1, count + 1)]
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return [slot.process.pid for slot in self._slots if slot.process is not None and slot.process.pid]

    def run(self, *, heartbeat: Callable[[], object] | None = None, serving: Callable[[], None] | None = None) -> None:
        """Start every worker and wait until each serves (raising what stopped one that could not), call
        `serving`, then keep them running until SIGTERM or Ctrl-C, and stop them. `heartbeat` is called every
        few seconds meanwhile (the parent keeps the chain it started alive)."""
        with _metrics_directory(), self._stop_signals():
            try:
                for slot in self._slots:
                    self._spawn(slot)
                if self._await_start() and serving is not None:
                    serving()
                self._watch(heartbeat)
            finally:
                self._stop_all()

    def _spawn(self, slot: _Slot) -> None:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=serve_worker,
            args=(self._spec, self._socket, slot.number, theirs),
            name=f"careledger-worker-{slot.number}",
        )
        process.start()
        theirs.close()
        slot.started(process, ours)

    def _await_start(self) -> bool:
        """Whether every worker serves (False: stopped before they all did)."""
        deadline = time.monotonic() + START_SECONDS
        while not all(slot.ready for slot in self._slots):
            if self._stopping.is_set():
                return False
            if time.monotonic() > deadline:
                raise CareLedgerError(f"the workers did not start within {START_SECONDS:.0f} s")
            for slot in self._ready_or_dead(1.0):
                failure = slot.take_messages()
                if failure is not None:
                    raise failure
                if not slot.alive:
                    raise CareLedgerError(f"worker {slot.number} exited while starting ({slot.describe_exit()})")
        _log.info("%d workers serving (pids %s)", len(self._slots), ", ".join(map(str, self.pids)))
        return True

    def _watch(self, heartbeat: Callable[[], object] | None) -> None:
        beat = time.monotonic()
        while not self._stopping.is_set():
            for slot in self._ready_or_dead(0.5):
                slot.take_messages()
                if not slot.alive and slot.restart_at is None and not self._stopping.is_set():
                    slot.died()  # (a worker that stops because Ctrl-C reached it too is not started again)
            now = time.monotonic()
            for slot in self._slots:
                if slot.restart_at is not None and now >= slot.restart_at and not self._stopping.is_set():
                    self._spawn(slot)
            if heartbeat is not None and now - beat >= HEARTBEAT_SECONDS:
                beat = now
                try:
                    heartbeat()
                except CareLedgerError as exc:  # a chain away now: the workers wait for it; told once each time
                    _log.debug("heartbeat: %s", exc)

    def _ready_or_dead(self, timeout: float) -> list[_Slot]:
        """The slots whose worker said something or exited within `timeout`."""
        waiting: dict[Any, _Slot] = {}  # pipes and process sentinels
        for slot in self._slots:
            if slot.process is not None and slot.restart_at is None:
                waiting[slot.process.sentinel] = slot
                if slot.pipe is not None:
                    waiting[slot.pipe] = slot
        if not waiting:  # every worker waits to be started again
            time.sleep(timeout)
            return []
        found = {id(waiting[ready]): waiting[ready] for ready in wait(list(waiting), timeout)}
        return list(found.values())

    def _stop_all(self) -> None:
        """SIGTERM to each worker (each stops serving; the leader anchors), then wait; kill what outstays."""
        running = [slot.process for slot in self._slots if slot.process is not None and slot.process.is_alive()]
        for process in running:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                _log.warning("worker pid %s did not stop within %.0f s: killed", process.pid, STOP_SECONDS)
                process.kill()
                process.join()
        for slot in self._slots:
            slot.close()

    @contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """SIGTERM and Ctrl-C end the watch (a second Ctrl-C too: the workers are stopped either way)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, lambda *_: self._stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _Slot:
    """One worker's place: the process in it now, its pipe, and when to start it again after it died."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: BaseProcess | None = None
        self.pipe: Connection | None = None
        self.ready = False
        self.restart_at: float | None = None
        self._since = 0.0
        self._backoff = 0.0
        self._died = False  # it died since it last served: its next start is logged with its new pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def started(self, process: BaseProcess, pipe: Connection) -> None:
        self.close()
        self.process, self.pipe = process, pipe
        self.ready, self.restart_at, self._since = False, None, time.monotonic()

    def take_messages(self) -> CareLedgerError | None:
        """Read what the worker said: that it serves, or why it could not start (returned)."""
        failure = None
        while self.pipe is not None and self.pipe.poll():
            try:
                message = self.pipe.recv()
            except (EOFError, OSError):
                self.pipe.close()
                self.pipe = None
                break
            if isinstance(message, CareLedgerError):
                failure = message
            elif not self.ready:
                self.ready = True
                self._since = time.monotonic()
                if self._died:  # the death was logged with the old pid; an operator tracing it needs the new
                    _log.info("worker %d started again (pid %s)", self.number, message)
                    self._died = False
        return failure

    def died(self) -> None:
        """Note a death, and when to start the worker again: at once after a steady life, later and later after
        deaths at start (a database away, a broken setting), so a crash loop does not spin the machine."""
        steady = self.ready and time.monotonic() - self._since >= _STEADY_SECONDS
        self._backoff = 0.0 if steady else min(_MAX_BACKOFF, max(1.0, self._backoff * 2))
        self.restart_at = time.monotonic() + self._backoff
        self._died = True
        _log.warning(
            "worker %d (pid %s) %s; starting it again%s",
            self.number,
            self.process.pid if self.process else "?",
            self.describe_exit(),
            f" in {self._backoff:.0f} s" if self._backoff else "",
        )
        if self.process is not None and self.process.pid is not None:
            _metrics_dead(self.process.pid)

    def describe_exit(self) -> str:
        code = self.process.exitcode if self.process is not None else None
        if code is None:
            return "is running"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def close(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        if self.process is not None and not self.process.is_alive():
            self.process.close()
            self.process = None


def serve_worker(spec: WorkerSpec, sock: socket.socket, number: int, parent: Connection) -> None:
    """A worker's life, in its own process: open the node, serve on the parent's socket until SIGTERM (or the
    parent's death), then stop as `NodeServer` does. Why it could not start goes to the parent."""
    with spec.logging():
        try:
            with open_operations(Home(spec.home), spec.settings, lambda _wallet: spec.passphrase) as node:
                server = NodeServer(node, host=spec.host, domain=spec.domain, sock=sock, worker=number)
                threading.Thread(target=_report, args=(server, parent), name="careledger-parent", daemon=True).start()
                server.run()
        except CareLedgerError as exc:  # at start (the parent raises it), or at the stop (a chain gone with it)
            _log.error("worker %d (pid %d) stopped: %s", number, os.getpid(), exc)
            with contextlib.suppress(OSError):  # a parent that is gone is told nothing
                parent.send(CareLedgerError(f"worker {number} could not serve: {exc}"))
            raise SystemExit(1) from None


def _report(server: NodeServer, parent: Connection) -> None:
    """Tell the parent once the server accepts requests; stop it (gracefully) if the parent goes away."""
    while not server.started:
        time.sleep(0.02)
    try:
        parent.send(os.getpid())
        parent.recv()  # nothing is ever sent: this returns (EOFError) when the parent's end closes
    except (EOFError, OSError):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh, private directory for prometheus-client's per-process files, named to the workers in
    `PROMETHEUS_MULTIPROC_DIR`, so `/metrics` on any worker adds up all of them; removed at the end."""
    directory = tempfile.mkdtemp(prefix="careledger-metrics-")  # mode 0700
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _metrics_dead(pid: int) -> None:
    """Drop a dead worker's live gauges from the sums (its counters stay: they counted what it served)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
