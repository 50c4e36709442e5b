"""The private aggregates' noise, measured: it has the spread the configured epsilon promises (fixed seeds)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from careledger.errors import IntegrityError, ValidationError
from careledger.research import AggregateQuery, combine, noisy_count, noisy_sum
from careledger.research._privacy import answer, part_of

RUNS = 20_000


@pytest.mark.parametrize("epsilon", [0.25, 0.5, 1.0, 2.0])
def test_a_counts_noise_matches_its_epsilon(epsilon: float) -> None:
    rng = np.random.RandomState(2026)
    noise = [noisy_count(100, epsilon, random_state=rng) - 100 for _ in range(RUNS)]
    p = math.exp(-epsilon)  # two-sided geometric: P(k) ∝ p^|k|
    assert abs(statistics.fmean(noise)) < 4 * math.sqrt(2 * p / (1 - p) ** 2 / RUNS)
    assert statistics.pvariance(noise) == pytest.approx(2 * p / (1 - p) ** 2, rel=0.06)
    assert noise.count(0) / RUNS == pytest.approx((1 - p) / (1 + p), abs=0.015)
    # The privacy loss itself: neighbouring counts' output probabilities differ by e^epsilon at most.
    at_0, at_1 = noise.count(0) / RUNS, noise.count(1) / RUNS
    assert at_0 / at_1 == pytest.approx(math.exp(epsilon), rel=0.1)


def test_a_sums_laplace_noise_scales_with_its_bounds_over_epsilon() -> None:
    rng = np.random.RandomState(7)
    values, bounds, epsilon = [120.0, 80.0, 500.0], (0.0, 200.0), 0.5
    draws = [noisy_sum(values, bounds, epsilon, random_state=rng) for _ in range(RUNS)]
    assert statistics.fmean(draws) == pytest.approx(400.0, abs=15)  # 500 is clamped to 200
    assert statistics.pstdev(draws) == pytest.approx(math.sqrt(2) * 200 / epsilon, rel=0.05)


def test_a_mean_and_a_histogram_combine_every_nodes_part() -> None:
    rng = np.random.RandomState(11)
    mean = AggregateQuery("mean", 8.0, "http://loinc.org|8867-4", (40.0, 120.0))
    parts = [answer(mean, [60.0] * 400, random_state=rng), answer(mean, [80.0] * 400, random_state=rng)]
    assert combine(mean, parts)["mean"] == pytest.approx(70.0, abs=1.0)
    histogram = AggregateQuery("histogram", 8.0, "http://loinc.org|8867-4", (40.0, 120.0), bins=4)
    parts = [answer(histogram, [45.0, 65.0, 65.0, 500.0], random_state=rng) for _ in range(2)]
    combined = combine(histogram, parts)
    assert combined["edges"] == [40.0, 60.0, 80.0, 100.0, 120.0]
    assert len(combined["bins"]) == 4
    assert sum(combined["bins"]) == pytest.approx(8, abs=4)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ({"kind": "median", "epsilon": 1}, "one of count, mean, histogram"),
        ({"kind": "count", "epsilon": 0}, "epsilon"),
        ({"kind": "count", "epsilon": "nan"}, "epsilon"),
        ({"kind": "count", "epsilon": 1e-300}, "epsilon"),
        ({"kind": "count", "epsilon": 9.9e-7}, "epsilon"),
        ({"kind": "mean", "epsilon": 1, "code": "x|y"}, "needs a code and bounds"),
        ({"kind": "mean", "epsilon": 1, "code": "x|y", "bounds": [5, 1]}, "the lower first"),
        ({"kind": "mean", "epsilon": 1, "code": "x|y", "bounds": [-1e308, 1e308]}, "bounds"),
        ({"kind": "histogram", "epsilon": 1, "code": "x|y", "bounds": [0, 1.000001e9]}, "bounds"),
        ({"kind": "mean", "epsilon": 1, "code": "x|y", "bounds": "12"}, "bounds"),
        ({"kind": "mean", "epsilon": 1, "code": "x|y", "bounds": [1, 2, 3]}, "bounds"),
        ({"kind": "mean", "epsilon": 1, "code": "x|y", "bounds": [True, 2]}, "bounds"),
        ({"kind": "count", "epsilon": 1, "bounds": [-1e308, 1e308]}, "bounds"),
        ({"kind": "histogram", "epsilon": 1, "code": "x|y", "bounds": [0, 1], "bins": 10_000}, "bins"),
        ({"epsilon": 1}, "an aggregate query is"),
    ],
)
def test_a_malformed_query_is_refused_before_any_noise(query: dict[str, object], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AggregateQuery.from_json(query)


def test_the_widest_bounds_and_the_smallest_epsilon_still_give_finite_parts() -> None:
    rng = np.random.RandomState(5)
    values = [1e308, -1e308, 0.0] * 50  # clamped: a value far outside the bounds counts as the bound
    for kind in ("mean", "histogram"):
        query = AggregateQuery.from_json(
            {"kind": kind, "epsilon": 1e-6, "code": "x|y", "bounds": [-1e9, 1e9], "bins": 3}
        )
        part = answer(query, values, random_state=rng)
        numbers = [v for value in part.values() for v in (value if isinstance(value, list) else [value])]
        assert all(math.isfinite(n) for n in numbers)
    with pytest.raises(ValidationError, match="bounds"):
        AggregateQuery.from_json({"kind": "mean", "epsilon": 1, "code": "x|y", "bounds": [-2e9, 1e9]})


@pytest.mark.parametrize(
    ("query", "part"),
    [
        (AggregateQuery("mean", 1.0, "x|y", (0.0, 10.0)), {"sum": math.inf, "count": 3}),
        (AggregateQuery("mean", 1.0, "x|y", (0.0, 10.0)), {"sum": math.nan, "count": 3}),
        (AggregateQuery("mean", 1.0, "x|y", (0.0, 10.0)), {"sum": 1.0}),
        (AggregateQuery("count", 1.0), {"count": 1.5}),
        (AggregateQuery("count", 1.0), {"count": "7"}),
        (AggregateQuery("histogram", 1.0, "x|y", (0.0, 10.0), bins=2), {"bins": [1, 2, 3]}),
        (AggregateQuery("histogram", 1.0, "x|y", (0.0, 10.0), bins=2), [1, 2]),
    ],
)
def test_a_nodes_part_that_is_not_finite_numbers_of_the_query_is_refused(query: AggregateQuery, part: object) -> None:
    with pytest.raises(IntegrityError, match="part"):
        part_of(query, part)


def test_a_nodes_well_formed_part_is_combined() -> None:
    mean = AggregateQuery("mean", 1.0, "x|y", (0.0, 10.0))
    parts = [part_of(mean, {"sum": 12.5, "count": 2}), part_of(mean, {"sum": 7, "count": 2})]
    assert combine(mean, parts) == {"mean": 4.875, "sum": 19.5, "count": 4}
