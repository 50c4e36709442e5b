"""The audit benchmark's smoke run (a short run, not a measurement): `make bench` keeps working as the log changes."""

from __future__ import annotations

import math

import pytest
from benchmarks import bench_audit

pytestmark = pytest.mark.postgres


def test_the_audit_benchmark_reports_each_figure_beside_its_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_audit, "GROUPS", 8)
    results = {r.name: r for r in bench_audit.bench_audit()}
    assert set(results) == {
        "audit group commit, wall",
        "audit group commit, CPU",
        "plain INSERT of the same rows, wall",
        "plain INSERT of the same rows, CPU",
    }
    assert all(math.isfinite(r.value) and r.value > 0 for r in results.values())
    assert "8 groups of 4 entries" in results["audit group commit, wall"].conditions
