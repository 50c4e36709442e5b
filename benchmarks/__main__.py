"""Run every benchmark (or those matching `-k`) and print a table, or JSON with --json."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import Result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("-k", default="", help="only benchmarks whose name contains this")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results: list[Result] = []
    progress = Console(stderr=True)
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        for bench in module.BENCHMARKS:
            if args.k not in bench.__name__:
                continue
            with progress.status(f"running {bench.__name__}…"):
                results.extend(bench())
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    table = Table(title=f"CareLedger benchmarks ({machine})")
    for column in ("name", "unit", "value", "conditions"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for result in results:
        table.add_row(
            result.name,
            result.unit,
            f"{result.value:,.3g}" if result.value < 10 else f"{result.value:,.0f}",
            result.conditions,
        )
    Console(width=max(120, Console().width)).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
