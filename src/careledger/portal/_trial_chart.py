"""The enrolment forecast as a chart drawn on the server: an SVG the page holds, with no script and no chart library.

```
enrolled
  target ┤- - - - - - - - - - - - -/-/-/-/- -   the median's line from today's count to the target on its
         │                    ░░░/░░░░░/        date, in the band of the 90% interval (its 5% and 95% dates)
         │            ___/‾‾‾‾ ░/░░░░/
         │     ___/‾‾‾       today
         └──┬─────────────────┬─────────┬──── days
```

Pure: dates and counts in, the geometry (points in the SVG's own units) out; the template draws it, and a table
under it says the same in words for a screen reader.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

WIDTH = 640
HEIGHT = 320
# Room for the axes' labels: left (counts), bottom (dates), and a margin on the top and right.
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 16, 40
_X_TICKS = 5
_Y_TICKS = 4


@dataclass(frozen=True, slots=True)
class Tick:
    """One label on an axis, at `at` (an x or a y of the SVG)."""

    at: float
    label: str


@dataclass(frozen=True, slots=True)
class ForecastChart:
    """What the template draws: polyline and polygon points (`"x,y x,y …"`), the target's and today's lines, the
    axes' ticks. `band` and `median` are empty when there is no forecast (target reached, or nothing to fit)."""

    width: int
    height: int
    enrolled: str
    median: str
    band: str
    target_y: float
    today_x: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int


def forecast_chart(
    enrolled: Sequence[tuple[date, int]],
    target: int,
    today: date,
    forecast: tuple[date, date, date] | None,
) -> ForecastChart:
    """The chart of `enrolled` ((day, enrolled by its end) in day order; a line from none at the first day to
    today's count) up to `today`, and, with a `forecast`
    ((median, low, high) dates the target is reached), the median's line and the 90% band from today's count to
    the target."""
    start = min([today, *(day for day, _ in enrolled)])
    so_far = enrolled[-1][1] if enrolled else 0
    end = max([today, *(forecast or ())])
    if end - start < timedelta(days=7):
        end = start + timedelta(days=7)
    top = max(target, so_far, 1)
    scale = _Scale(start, end, top)

    line = [(start, 0), *enrolled, (today, so_far)]
    median = band = ""
    if forecast is not None and so_far < target:
        median_day, low, high = forecast
        median = _points(scale, [(today, so_far), (median_day, target)])
        band = _points(scale, [(today, so_far), (low, target), (high, target)])
    return ForecastChart(
        width=WIDTH,
        height=HEIGHT,
        enrolled=_points(scale, line),
        median=median,
        band=band,
        target_y=scale.y(target),
        today_x=scale.x(today),
        x_ticks=tuple(_date_ticks(scale, start, end)),
        y_ticks=tuple(Tick(scale.y(count), str(count)) for count in _counts(top)),
        plot_left=_LEFT,
        plot_right=WIDTH - _RIGHT,
        plot_top=_TOP,
        plot_bottom=HEIGHT - _BOTTOM,
    )


@dataclass(frozen=True, slots=True)
class _Scale:
    """Days from `start` to `end` across the plot, counts from 0 to `top` up it."""

    start: date
    end: date
    top: int

    def x(self, day: date) -> float:
        span = (self.end - self.start).days
        return round(_LEFT + (WIDTH - _LEFT - _RIGHT) * (day - self.start).days / span, 1)

    def y(self, count: int) -> float:
        return round(HEIGHT - _BOTTOM - (HEIGHT - _TOP - _BOTTOM) * count / self.top, 1)


def _points(scale: _Scale, points: Sequence[tuple[date, int]]) -> str:
    return " ".join(f"{scale.x(day)},{scale.y(count)}" for day, count in points)


def _date_ticks(scale: _Scale, start: date, end: date) -> list[Tick]:
    """Evenly spaced days from `start` to `end`, written "6 Dec 2026"."""
    span = (end - start).days
    days = sorted({start + timedelta(days=round(span * i / (_X_TICKS - 1))) for i in range(_X_TICKS)})
    return [Tick(scale.x(day), f"{day.day} {day:%b %Y}") for day in days]


def _counts(top: int) -> list[int]:
    """Whole counts from 0 to `top` in even steps (the last is `top`, the target, itself)."""
    step = max(1, math.ceil(top / _Y_TICKS))
    return sorted({*range(0, top, step), top})
