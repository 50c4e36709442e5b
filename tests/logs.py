"""Waiting for what a server logs after its answer has left.

A served request is logged once its last byte is sent: the client may hold the whole answer
(a streamed `$everything`, Starlette's own 500) a moment before the server's thread writes
the line, so a test that counts lines waits for them rather than racing that thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest


def logged(
    caplog: pytest.LogCaptureFixture, select: Callable[[logging.LogRecord], bool], count: int, within: float = 5.0
) -> list[logging.LogRecord]:
    """The captured records `select` picks, once there are `count` of them or `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        found = [record for record in caplog.records if select(record)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)
