"""CareLedger benchmarks: `make bench` (or `python -m benchmarks`) prints a table.

Each `bench_*.py` module defines `BENCHMARKS`, a list of functions returning `Result`s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    unit: str
    value: float
    conditions: str
