"""The trials benchmark's smoke run: a few participants on anvil, so a change to the trial services, the contract or
the forecast that breaks `make bench` fails here first (a short run, not a measurement)."""

from __future__ import annotations

import math

import pytest
from benchmarks import bench_trials


def test_the_trials_benchmark_reports_each_figure_beside_its_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("PARTICIPANTS", 3), ("TRANSFERS", 2), ("ROUNDS", 1)):
        monkeypatch.setattr(bench_trials, name, value)
    results = {r.name: r for r in bench_trials.bench_trials()}
    assert set(results) == {
        "CRF responses stored and anchored",
        "beside it: Observations stored and anchored",
        "CRF rate / Observation rate",
        "gas per randomisation",
        "gas per milestone payment (pay_visit)",
        "beside them: gas per CareToken transfer",
        "forecast fit time, 50 sites",
        "beside it: numpy Poisson draw of the same size",
    }
    assert all(math.isfinite(r.value) and r.value > 0 for r in results.values())
    assert "9 QuestionnaireResponses" in results["CRF responses stored and anchored"].conditions
    assert "9 Observations" in results["beside it: Observations stored and anchored"].conditions
    # An enrolment writes her participant record; a transfer to a new holder is the cheapest write here.
    transfer = results["beside them: gas per CareToken transfer"].value
    assert results["gas per randomisation"].value > transfer
    assert results["gas per milestone payment (pay_visit)"].value > transfer  # two transfers and a proof
