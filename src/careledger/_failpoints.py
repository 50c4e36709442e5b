"""Failpoints: named places where the crash tests kill the process (`CARELEDGER_CRASH_AT`).

Storage engines test crash safety the same way: the real process dies by SIGKILL at an
exact point, and a restart must lose nothing. Unset, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """Die here, as by a power cut, if `CARELEDGER_CRASH_AT` names this point."""
    if os.environ.get("CARELEDGER_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
