"""Helpers for tests of the chain layer."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from careledger.chain import find_anvil
from careledger.chain._anvil import free_port
from careledger.errors import ChainUnavailable

_T = TypeVar("_T")


def until_answers(call: Callable[[], _T], timeout: float = 10.0) -> _T:
    """What `call` returns once the chain answers it: after an outage, a retry is due only after a backoff."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ChainUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class External:
    """An anvil someone else runs at a fixed address, with its state in a file: the `rpc` backend's chain."""

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._state = state
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--host", "127.0.0.1", "--port", str(self.port), "--state", str(self._state), "--accounts", "1"]
        self._process = subprocess.Popen([str(find_anvil()), *args], stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        """SIGTERM: anvil saves its state and exits."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(15)
