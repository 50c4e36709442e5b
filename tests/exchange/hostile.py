"""JSON as anyone may send it to a parser of signed requests: arbitrary values, and a good request damaged.

The exchange's requests were the first signed requests from outside to get these; the
research, consent and sign-in tests draw from the same strategies. `refused_or_parsed` is
the property they all check: a value, or a `CareLedgerError` the API answers with a 4xx.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

from careledger.errors import CareLedgerError, http_status

T = TypeVar("T")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

# Just past and just inside every width a field of ours has (uint8 … uint256, an address, a safe JS integer).
_EDGES = [2**bits + d for bits in (8, 16, 53, 64, 160, 255, 256) for d in (-1, 0, 1)]
huge_ints = st.sampled_from(_EDGES) | st.integers(min_value=2**64, max_value=2**1100) | st.just(10**400)
negative_ints = st.integers(max_value=-1) | st.sampled_from([-edge for edge in _EDGES])
odd_floats = st.floats() | st.sampled_from([math.inf, -math.inf, math.nan, 1e308, 1e19, -0.0, 0.5, 1.5])
_HEX = "0123456789abcdefABCDEF"
hex_strings = st.tuples(
    st.sampled_from(["0x", "0X", ""]), st.integers(0, 200).flatmap(lambda n: st.text(_HEX, min_size=n, max_size=n))
).map("".join)
number_strings = (huge_ints | negative_ints | st.integers()).flatmap(
    lambda n: st.sampled_from([str(n), hex(n), f" {n} ", f"{n}.0", f"{n}e3"])
) | st.sampled_from(["", "1_000", "\uff11\uff12", "\u0661\u0662", "NaN", "Infinity", "-0x5", "0x", "+7", "1" * 5000])
nested = st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=4) | st.lists(json_values, max_size=4)
hostile = json_values | huge_ints | negative_ints | odd_floats | hex_strings | number_strings | nested

_DELETE = object()


def _paths(value: Any, prefix: tuple[Hashable, ...] = ()) -> Iterator[tuple[Hashable, ...]]:
    """The path (keys and indexes) to `value` and to everything inside it."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


def changed(value: Any, path: tuple[Hashable, ...], new: Any) -> Any:
    """A copy of `value` with what is at `path` replaced by `new` (or removed, for `_DELETE`); as it was if there is
    nothing at `path` any more (an earlier change replaced what held it)."""
    if not path:
        return None if new is _DELETE else new  # nothing at all, as JSON says it
    head, rest = path[0], path[1:]
    copy: Any
    if isinstance(value, dict) and head in value:
        copy = dict(value)
    elif isinstance(value, list) and isinstance(head, int) and head < len(value):
        copy = list(value)
    else:
        return value
    if rest or new is not _DELETE:
        copy[head] = changed(copy[head], rest, new)
    else:
        del copy[head]
    return copy


def damaged(good: Any) -> st.SearchStrategy[Any]:
    """`good` with one to three of its values (fields, nested objects, list items, or the whole) replaced by
    something hostile, or removed."""
    change = st.tuples(st.sampled_from(list(_paths(good))), hostile | st.just(_DELETE))

    def apply(changes: list[tuple[tuple[Hashable, ...], Any]]) -> Any:
        value = good
        for path, new in changes:
            value = changed(value, path, new)
        return value

    return st.lists(change, min_size=1, max_size=3).map(apply)


def from_outside(good: Any) -> st.SearchStrategy[Any]:
    """What may arrive where `good` is expected: any JSON at all, or `good` damaged."""
    return json_values | damaged(good)


def refused_or_parsed(parse: Callable[[], T]) -> T | None:
    """What `parse` makes of input from outside: its value, or None if it refused with a `CareLedgerError` the API
    answers with a 4xx. Any other exception propagates (it would be a 500), and fails the test."""
    try:
        return parse()
    except CareLedgerError as exc:
        refusal = exc
    status = http_status(refusal)[0]
    assert 400 <= status < 500, f"{type(refusal).__name__} is answered with {status}: {refusal}"
    return None


# Each property: enough examples to reach the odd corners, few enough to stay a second or two.
PROPERTY = settings(max_examples=200, deadline=None)
