"""How long the `careledger` command takes before it does anything, and a first deploy on a fresh home.

Start-up is measured as wall time of whole processes, against a bare `python -c pass` in
the same run (machines differ twofold in speed; the ratio travels better than the seconds).
`record list` runs on an initialised, empty home: the path every read-only command takes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import Result

ROUNDS = 7
DEPLOY_ROUNDS = 3


def _careledger() -> list[str]:
    """The installed console script beside this interpreter (what a user runs), else `python -m careledger`."""
    script = Path(sys.executable).parent / "careledger"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "careledger"]


def _wall(argv: list[str], env: dict[str, str], rounds: int = ROUNDS) -> float:
    """The median wall time of running `argv` to completion (it must succeed)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_startup() -> list[Result]:
    env = {**os.environ, "CARELEDGER_PASSPHRASE": "bench", "COLUMNS": "120"}
    cli = _careledger()
    with tempfile.TemporaryDirectory() as tmp:
        home = ["--home", str(Path(tmp) / "home")]
        subprocess.run([*cli, *home, "init", "--light-kdf"], env=env, check=True, stdout=subprocess.DEVNULL)
        baseline = _wall([sys.executable, "-c", "pass"], env)
        results = [Result("python -c pass", "s", baseline, f"the baseline, median of {ROUNDS}")]
        for label, args in (
            ("--version", ["--version"]),
            ("--help", ["--help"]),
            ("record list, empty home", [*home, "record", "list"]),
        ):
            seconds = _wall([*cli, *args], env)
            results.append(
                Result(
                    f"cli {label}",
                    "s",
                    seconds,
                    f"{seconds / baseline:.0f} x python -c pass; median of {ROUNDS} processes",
                )
            )
    return results


def bench_first_deploy() -> list[Result]:
    env = {**os.environ, "CARELEDGER_PASSPHRASE": "bench"}
    cli = _careledger()
    times = []
    for _ in range(DEPLOY_ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh machine: no compiled-contract cache either (a version that compiles pays for it here).
            env["CARELEDGER_CACHE"] = str(Path(tmp) / "cache")
            home = ["--home", str(Path(tmp) / "home")]
            subprocess.run([*cli, *home, "init", "--light-kdf"], env=env, check=True, stdout=subprocess.DEVNULL)
            start = time.perf_counter()
            subprocess.run([*cli, *home, "chain", "deploy"], env=env, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return [
        Result(
            "first chain deploy, fresh home",
            "s",
            statistics.median(times),
            f"anvil started, 5 contracts deployed, state dumped; no compile cache; median of {DEPLOY_ROUNDS}",
        )
    ]


BENCHMARKS = [bench_startup, bench_first_deploy]
