"""`careledger serve` for one home as a child process: for the demo, tests and benchmarks.

The child writes its output to `serve.log` in its home rather than to a pipe nobody
drains (a full pipe would stall it); when it fails to start, the log's tail is the error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from careledger.config import Home
from careledger.errors import CareLedgerError

_LOG_TAIL = 2_000


class NodeProcess:
    """One node's server process: launched, waited for, stopped gracefully, killed, started again."""

    def __init__(
        self,
        home: Home,
        port: int,
        *,
        passphrase: str,
        cwd: Path | None = None,
        host: str = "127.0.0.1",
        prefix: Sequence[str] = (),
        workers: int = 1,
    ) -> None:
        """`host` is the address it listens on; `prefix` the command it runs under, such as
        `ip netns exec NAME` to put it in a network namespace of its own; `workers` its worker processes."""
        self.home = home
        self.port = port
        self.host = host
        self.url = f"http://{host}:{port}"
        self._prefix = tuple(prefix)
        self._workers = workers
        self.log = home.path / "serve.log"
        self._env = {**os.environ, "CARELEDGER_PASSPHRASE": passphrase}
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server process's id (None before it starts)."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60) -> NodeProcess:
        """Start `careledger serve` and wait until it answers; `ConfigError` with its log if it does not."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> None:
        """Start the process without waiting for it to answer (start several, then wait for each)."""
        command = [
            *self._prefix,
            *(sys.executable, "-m", "careledger", "--home", str(self.home.path)),
            *("serve", "--host", self.host, "--port", str(self.port)),
            *(("--workers", str(self._workers)) if self._workers > 1 else ()),
        ]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self._env, cwd=self._cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once the node answers `/metadata`; `CareLedgerError` with its log if it died or never did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise CareLedgerError(f"the node at {self.home.path} exited while starting: {self.log_tail()}")
            try:
                httpx.get(f"{self.url}/metadata", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise CareLedgerError(f"the node at {self.home.path} did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (the node anchors what is pending, then exits) and wait; the exit code."""
        if self._process is None:
            return 0
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                return self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return self._process.wait()

    def kill(self) -> None:
        """SIGKILL, as a power cut would: no shutdown work at all."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log_tail(self) -> str:
        """The last lines the server logged, for an error message."""
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return text[-_LOG_TAIL:].strip() or "(no output)"

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
