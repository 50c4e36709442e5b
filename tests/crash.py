"""Run a node process for a crash test, killed by SIGKILL at a failpoint (`CARELEDGER_CRASH_AT`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from careledger.config import Home

ROOT = Path(__file__).resolve().parents[1]


def run_worker(module: str, home: Home, seed: int, crash_at: str | None = None) -> int:
    """`python -m module HOME SEED`; its exit code (0, or -SIGKILL when it died at `crash_at`)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CARELEDGER_CRASH_AT", None)
    if crash_at:
        env["CARELEDGER_CRASH_AT"] = crash_at
    done = subprocess.run(
        [sys.executable, "-m", module, str(home.path), str(seed)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode
