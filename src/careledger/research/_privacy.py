"""Differentially private aggregates over one node's study participants, by diffprivlib's mechanisms.

Each participant contributes one value at most (her latest matching observation), so a
count, and each bin of a histogram, changes by one when she is added or removed
(sensitivity 1: the geometric mechanism, the integer Laplace); a sum of values clamped to
`bounds` changes by at most the larger bound's magnitude (the Laplace mechanism). A mean
is answered as a noisy sum and a noisy count, each with half the query's epsilon, so the
researcher's node can combine the parts of several nodes before dividing.

Noise is drawn from `secrets` unless a `random_state` (a numpy RandomState) is given, which only tests do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from careledger.errors import ValidationError
from careledger.research._budget import MAX_EPSILON, MIN_EPSILON

Kind = Literal["count", "mean", "histogram"]
KINDS: tuple[Kind, ...] = ("count", "mean", "histogram")
MAX_BINS = 100


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
        if self.kind != "count":
            if self.code is None or self.bounds is None:
                raise ValidationError(f"a {self.kind} needs a code and bounds")
            low, high = self.bounds
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValidationError("bounds are two finite numbers, the lower first")
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
                bounds=None if bounds is None else (float(bounds[0]), float(bounds[1])),
                bins=int(data.get("bins", 10)),
            )
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"an aggregate query is {{kind, epsilon, code?, bounds?, bins?}}: {exc}") from None


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
