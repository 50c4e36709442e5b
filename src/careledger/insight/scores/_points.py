"""Point scores' shared arithmetic: a value's points from a published banding table, shown beside the value it was
given for, so that a reader checks each item against the chart without recomputing it."""

from __future__ import annotations

from careledger.insight._model import Input
from careledger.insight.scores._reading import Reading

# A banding table: (highest value in the band, inclusive; points), in rising order; the last band is open.
Table = tuple[tuple[float, int], ...]


def points(value: float, table: Table) -> int:
    """The points of the first band whose upper limit `value` does not exceed (the last band takes the rest)."""
    return next((awarded for upper, awarded in table if value <= upper), table[-1][1])


def award(reading: Reading, awarded: int) -> int:
    """Append the points to the input just read ("24 /min on 2026-12-06: 2 points") and return them."""
    last = reading.inputs[-1]
    reading.inputs[-1] = Input(last.label, f"{last.value}: {plural(awarded)}", last.source)
    return awarded


def plural(awarded: int) -> str:
    """The points in words: 1 point, 2 points."""
    return f"{awarded} point" if awarded == 1 else f"{awarded} points"
