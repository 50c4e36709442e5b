"""The insight benchmarks' smoke run: a few patients, so a change to the scores, the gatherer or the door that
breaks `make bench` fails here first (a short run, not a measurement)."""

from __future__ import annotations

import math

import pytest
from benchmarks import bench_insight


def test_the_scores_benchmark_reports_each_rate_beside_its_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_insight, "PATIENTS", 12)
    monkeypatch.setattr(bench_insight, "STORED", 2)
    results = {r.name: r for r in bench_insight.bench_insight_scores()}
    assert set(results) == {
        "insight: all scores from resources",
        "insight: all scores from ready facts",
        "insight: all scores through the door",
        "FHIR Observation search by patient",
    }
    assert all(r.unit == "patients/s" and math.isfinite(r.value) and r.value > 0 for r in results.values())
    assert "12 patients" in results["insight: all scores from resources"].conditions
    assert "baseline" in results["FHIR Observation search by patient"].conditions
