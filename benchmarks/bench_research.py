"""De-identification throughput: Safe Harbor on every record, then k-anonymity over the population, in process;
beside a baseline measured in the same run, a JSON round trip of the same resources (the least any transform
of them costs)."""

from __future__ import annotations

import json
import time
from datetime import date

from benchmarks import Result
from careledger.research import release
from careledger.testdata import synthetic_patients

PATIENTS = 300
ROUNDS = 3


def bench_research() -> list[Result]:
    resources = [r for p in synthetic_patients(PATIENTS, seed=9) for r in p.resources]
    key = bytes(range(32))
    best_release = best_copy = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        released = release(resources, key, today=date(2026, 11, 29))
        best_release = min(best_release, time.perf_counter() - started)
        started = time.perf_counter()
        for resource in resources:
            json.loads(json.dumps(resource))
        best_copy = min(best_copy, time.perf_counter() - started)
    conditions = f"{len(resources):,} synthetic resources of {PATIENTS} patients, k=5, one core, best of {ROUNDS}"
    return [
        Result(
            "de-identification (Safe Harbor + k-anonymity)", "resources/s", len(resources) / best_release, conditions
        ),
        Result("baseline: JSON round trip", "resources/s", len(resources) / best_copy, "same resources, same run"),
        Result("de-identification: patients released", "patients", released.report.patients, f"of {PATIENTS}"),
    ]


BENCHMARKS = [bench_research]
