"""The Poisson-gamma enrolment forecast: its fit, its dates, the sites it asks for, its refusals, its coverage."""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
import pytest

from careledger.errors import ValidationError
from careledger.trials import SiteEnrolment, backtest_forecast, fit_enrolment, forecast, sites_to_add

TODAY = date(2026, 6, 30)


def _sites(counts: list[int], days_open: list[int]) -> list[SiteEnrolment]:
    return [
        SiteEnrolment(f"0xsite{i}", TODAY - timedelta(days=days - 1), count)
        for i, (count, days) in enumerate(zip(counts, days_open, strict=True))
    ]


def _simulated(alpha: float, beta: float, count: int, seed: int) -> list[SiteEnrolment]:
    rng = np.random.default_rng(seed)
    days_open = rng.integers(30, 400, size=count)
    enrolled = rng.poisson(rng.gamma(alpha, 1 / beta, size=count) * days_open)
    return _sites([int(n) for n in enrolled], [int(d) for d in days_open])


SITES = _simulated(2.0, 40.0, 30, seed=3)


def test_the_90_percent_interval_covers_the_simulated_truth_about_90_percent_of_the_time() -> None:
    started = time.process_time()
    coverage = backtest_forecast(runs=200, rng_seed=2007)
    assert 0.85 <= coverage <= 0.95
    assert time.process_time() - started < 20


def test_fit_recovers_the_rates_gamma_from_many_sites() -> None:
    model = fit_enrolment(_simulated(2.0, 40.0, 3000, seed=1), TODAY)
    assert model.alpha == pytest.approx(2.0, rel=0.1)
    assert model.beta == pytest.approx(40.0, rel=0.1)
    assert model.mean_rate == pytest.approx(0.05, rel=0.05)


def test_a_forecast_is_ordered_and_deterministic_for_a_seed() -> None:
    first = forecast(SITES, 600, TODAY, rng_seed=5)
    assert TODAY < first.low < first.median < first.high
    assert first == forecast(SITES, 600, TODAY, rng_seed=5)
    assert first.remaining == 600 - sum(site.enrolled for site in SITES)
    assert not first.reached
    assert set(first.site_rates) == {site.site for site in SITES}
    assert first.rate_per_day == pytest.approx(sum(first.site_rates.values()))


def test_equal_sites_forecast_the_time_their_common_rate_needs() -> None:
    """Ten sites with 30 each in 100 days look Poisson (alpha at its bound): 100 more at 3 a day take ~33 days."""
    result = forecast(_sites([30] * 10, [100] * 10), 400, TODAY)
    assert result.rate_per_day == pytest.approx(3.0, rel=0.01)
    assert result.median == TODAY + timedelta(days=34)
    assert result.low >= TODAY + timedelta(days=26)
    assert result.high <= TODAY + timedelta(days=42)


def test_the_median_moves_later_when_rates_are_lower() -> None:
    slower = [SiteEnrolment(site.site, site.opened, site.enrolled // 2) for site in SITES]
    assert forecast(slower, 600, TODAY).median > forecast(SITES, 600, TODAY).median


def test_planned_sites_bring_the_date_earlier() -> None:
    alone = forecast(SITES, 600, TODAY)
    planned = [TODAY + timedelta(days=10)] * 10
    assert forecast(SITES, 600, TODAY, new_sites=planned).median < alone.median


def test_a_reached_target_says_so() -> None:
    enrolled = sum(site.enrolled for site in SITES)
    result = forecast(SITES, enrolled, TODAY)
    assert result.reached
    assert result.remaining == 0
    assert result.low == result.median == result.high == TODAY


def test_sites_to_add_is_zero_when_the_deadline_is_already_likely() -> None:
    likely = forecast(SITES, 600, TODAY).high + timedelta(days=10)
    assert sites_to_add(SITES, 600, TODAY, likely, opening=TODAY + timedelta(days=1)) == 0
    enrolled = sum(site.enrolled for site in SITES)
    assert sites_to_add(SITES, enrolled, TODAY, TODAY - timedelta(days=1), opening=TODAY + timedelta(days=1)) == 0


def test_sites_to_add_asks_for_more_sites_the_tighter_the_deadline() -> None:
    median = forecast(SITES, 600, TODAY).median
    opening = TODAY + timedelta(days=7)
    at_median = sites_to_add(SITES, 600, TODAY, median, opening=opening)
    earlier = sites_to_add(SITES, 600, TODAY, median - timedelta(days=30), opening=opening)
    assert 0 < at_median < earlier
    # With the sites it asks for, the deadline (the old median) is past the new forecast's 90% point.
    with_them = forecast(SITES, 600, TODAY, new_sites=[opening] * at_median)
    assert with_them.median < median < with_them.high < forecast(SITES, 600, TODAY).high


def test_sites_to_add_refuses_what_even_its_cap_cannot_reach() -> None:
    median = forecast(SITES, 600, TODAY).median
    with pytest.raises(ValidationError, match="even 3 new sites opening on 2026-07-07 would not reach 600 enrolments"):
        sites_to_add(SITES, 600, TODAY, median - timedelta(days=60), opening=TODAY + timedelta(days=7), cap=3)
    with pytest.raises(ValidationError, match="would not reach"):
        sites_to_add(SITES, 600, TODAY, median - timedelta(days=30), opening=median)
    with pytest.raises(ValidationError, match="the deadline 2026-06-30 has passed and the target is"):
        sites_to_add(SITES, 600, TODAY, TODAY, opening=TODAY + timedelta(days=1))


@pytest.mark.parametrize(
    ("sites", "target", "message"),
    [
        ([], 10, "a forecast needs at least one site"),
        (_sites([3, -1], [30, 30]), 10, "site 0xsite1 has enrolled -1: a count is never negative"),
        (_sites([0, 0], [30, 30]), 10, "no site has enrolled anyone yet"),
        ([SiteEnrolment("0xlate", TODAY + timedelta(days=1), 0)], 10, "site 0xlate opens on 2026-07-01, after today"),
        (SITES, 0, "a target enrolment is at least 1, not 0"),
    ],
)
def test_forecast_refuses(sites: list[SiteEnrolment], target: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        forecast(sites, target, TODAY)


def test_a_planned_site_opens_after_today() -> None:
    with pytest.raises(ValidationError, match="a new site opens after today"):
        forecast(SITES, 600, TODAY, new_sites=[TODAY])
