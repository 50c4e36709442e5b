"""Differentially private aggregates over one node's study participants, by diffprivlib's mechanisms.

Each participant contributes one value at most (her latest matching observation), so a
count, and each bin of a histogram, changes by one when she is added or removed
(sensitivity 1: the geometric mechanism, the integer Laplace); a sum of values clamped to
`bounds` changes by at most the larger bound's magnitude (the Laplace mechanism). A mean
is answered as a noisy sum and a noisy count, each with half the query's epsilon, so the
researcher's node can combine the parts of several nodes before dividing.

Bounds are at most `MAX_BOUND` in magnitude (a billion: past any lab value, vital sign or
count a study asks about) and epsilon at least one unit of the budget (a millionth), so the
Laplace scale (bound / epsilon) stays below 1e16 and every part is a finite number: bounds
of ±1e308 once overflowed the noise to infinity, which no JSON can carry.

Noise is drawn from `secrets` unless a `random_state` (a numpy RandomState) is given, which only tests do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from careledger.errors import IntegrityError, ValidationError
from careledger.research._budget import MAX_EPSILON, MIN_EPSILON

Kind = Literal["count", "mean", "histogram"]
KINDS: tuple[Kind, ...] = ("count", "mean", "histogram")
MAX_BINS = 100
MAX_BOUND = 1e9


@dataclass(frozen=True, slots=True)
class AggregateQuery:
    """What a researcher asks every node: an aggregate of one code's values (or of participants), and its epsilon."""

    kind: Kind
    epsilon: float
    code: str | None = None  # "system|code" of the Observation; None counts participants
    bounds: tuple[float, float] | None = None  # mean and histogram: values are clamped to these
    bins: int = 10

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(f"an aggregate is one of {', '.join(KINDS)}, not {self.kind!r}")
        if not MIN_EPSILON <= self.epsilon <= MAX_EPSILON:  # false for NaN too
            raise ValidationError(
                f"epsilon is a number from {MIN_EPSILON:f} (one unit of the budget) to {MAX_EPSILON:g}"
            )
        if self.kind != "count" and (self.code is None or self.bounds is None):
            raise ValidationError(f"a {self.kind} needs a code and bounds")
        if self.bounds is not None:
            low, high = self.bounds
            if not -MAX_BOUND <= low < high <= MAX_BOUND:  # false for NaN too
                raise ValidationError(f"bounds are two numbers from {-MAX_BOUND:g} to {MAX_BOUND:g}, the lower first")
        if not 1 <= self.bins <= MAX_BINS:
            raise ValidationError(f"a histogram has 1 to {MAX_BINS} bins")

    def to_json(self) -> dict[str, Any]:
        """The query as it travels (and is hashed into the signed request)."""
        return {
            "kind": self.kind,
            "epsilon": self.epsilon,
            "code": self.code,
            "bounds": list(self.bounds) if self.bounds else None,
            "bins": self.bins,
        }

    @classmethod
    def from_json(cls, data: Any) -> AggregateQuery:
        """A query from its JSON; `ValidationError` if malformed."""
        try:
            bounds = data.get("bounds")
            return cls(
                kind=data["kind"],
                epsilon=float(data["epsilon"]),
                code=None if data.get("code") is None else str(data["code"]),
                bounds=None if bounds is None else _bounds(bounds),
                bins=int(data.get("bins", 10)),
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"an aggregate query is {{kind, epsilon, code?, bounds?, bins?}}: {exc}") from None


def _bounds(value: Any) -> tuple[float, float]:
    """Bounds from JSON: a list of two numbers (a string, a boolean or a third element is no bound)."""
    numbers = isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    try:
        if numbers and len(value) == 2:
            return float(value[0]), float(value[1])
    except OverflowError:  # an integer past any float
        pass
    raise ValidationError(f"bounds are a list of two numbers from {-MAX_BOUND:g} to {MAX_BOUND:g}, the lower first")


def noisy_count(true_count: int, epsilon: float, *, random_state: Any = None) -> int:
    """`true_count` with two-sided geometric noise for sensitivity 1 at `epsilon`."""
    from diffprivlib.mechanisms import Geometric  # imports scikit-learn: paid by the first query only

    return int(Geometric(epsilon=epsilon, sensitivity=1, random_state=random_state).randomise(true_count))


def noisy_sum(
    values: Sequence[float], bounds: tuple[float, float], epsilon: float, *, random_state: Any = None
) -> float:
    """The sum of `values` clamped to `bounds`, with Laplace noise for the clamped sum's sensitivity."""
    from diffprivlib.mechanisms import Laplace

    low, high = bounds
    total = sum(min(max(v, low), high) for v in values)
    sensitivity = max(abs(low), abs(high))
    return float(Laplace(epsilon=epsilon, sensitivity=sensitivity, random_state=random_state).randomise(total))


def answer(query: AggregateQuery, values: Sequence[float], *, random_state: Any = None) -> dict[str, Any]:
    """One node's noised part: `values` holds one value per participant (for a count, one entry each)."""
    if query.kind == "count":
        return {"count": noisy_count(len(values), query.epsilon, random_state=random_state)}
    assert query.bounds is not None
    half = query.epsilon / 2
    if query.kind == "mean":
        return {
            "sum": noisy_sum(values, query.bounds, half, random_state=random_state),
            "count": noisy_count(len(values), half, random_state=random_state),
        }
    low, high = query.bounds
    width = (high - low) / query.bins
    counts = [0] * query.bins
    for value in values:
        counts[min(int((min(max(value, low), high) - low) / width), query.bins - 1)] += 1
    return {"bins": [noisy_count(c, query.epsilon, random_state=random_state) for c in counts]}


def part_of(query: AggregateQuery, part: Any) -> dict[str, Any]:
    """A node's noised part of `query` as the numbers `combine` adds up; `IntegrityError` for anything else (a
    missing count, a non-finite sum, the wrong number of bins), so one node's bad answer is reported as that
    node's, never a result no JSON can carry."""
    if isinstance(part, dict):
        if query.kind == "count" and _is_int(part.get("count")):
            return {"count": part["count"]}
        if query.kind == "mean" and _is_finite(part.get("sum")) and _is_int(part.get("count")):
            return {"sum": float(part["sum"]), "count": part["count"]}
        bins = part.get("bins")
        if query.kind == "histogram" and isinstance(bins, list) and len(bins) == query.bins and all(map(_is_int, bins)):
            return {"bins": bins}
    raise IntegrityError(f"not a noised part of a {query.kind} (finite numbers of its fields): {str(part)[:200]}")


def combine(query: AggregateQuery, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The researcher's result from every node's noised part (no further noise: each part carries its own)."""
    if query.kind == "count":
        return {"count": sum(int(p["count"]) for p in parts)}
    if query.kind == "mean":
        total, count = sum(float(p["sum"]) for p in parts), sum(int(p["count"]) for p in parts)
        return {"mean": total / count if count > 0 else None, "sum": total, "count": count}
    assert query.bounds is not None
    low, high = query.bounds
    edges = [low + i * (high - low) / query.bins for i in range(query.bins + 1)]
    bins = [sum(int(p["bins"][i]) for p in parts) for i in range(query.bins)]
    return {"edges": edges, "bins": bins}


def _is_int(value: Any) -> bool:
    """A count: an int (not a bool) a float can hold, so a mean divides by it."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
