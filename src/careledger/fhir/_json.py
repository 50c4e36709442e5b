"""JSON from strangers: parsed only once its nesting depth is known to be bounded.

Python's `json` parser recurses in C once per level and checks only the interpreter's
recursion limit, which py-evm and py_ecc raise to 100,000 when imported; a body of
100,000 brackets then overflows the C stack and kills the process instead of raising.
So every untrusted document (request bodies, a peer node's answers, import files) goes
through `loads`, which measures the depth first at C speed and refuses a deep one with
a `ValidationError`, whatever the recursion limit is.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from careledger.errors import ValidationError

# The most digits a JSON integer may have: Python's own default limit (no id, amount or uint256 needs more than 78).
MAX_DIGITS = 4300

# FHIR's deepest real documents (nested Questionnaire items inside a Bundle) stay well
# under this; every level costs two (an object and its array).
MAX_DEPTH = 100

# A JSON string with its escapes (unrolled, so matching is linear); its brackets are text.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENERS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")  # translate deletes before it maps
# Each remaining bracket's step in depth: "[" one deeper, "]" one shallower.
_STEP = tuple(1 if b == ord("[") else -1 for b in range(256))


def loads(text: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads(text)`, refusing documents nested deeper than `max_depth` or that are not JSON (RFC 8259: no
    `NaN`, `Infinity` or `-Infinity`, which Python's parser takes by default and no number compares with), numbers
    too large for a double (`1e999`, which Python would read as infinity) and integers of more than `MAX_DIGITS`
    digits."""
    raw = text.encode() if isinstance(text, str) else text
    check_depth(raw, max_depth)
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationError(f"not JSON: {exc}") from None


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent, as a float, if a double holds it."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:24]} is too large a number")
    return value


def _integer(text: str) -> int:
    """A JSON integer, if it has at most `MAX_DIGITS` digits: `ValidationError` in our words, not Python's (whose own
    limit, 4300, would be refused with a hint about `sys.set_int_max_str_digits`)."""
    digits = len(text) - text.startswith("-")
    if digits > MAX_DIGITS:
        raise ValidationError(f"a number too large: {digits:,} digits, at most {MAX_DIGITS:,}")
    return int(text)


def _no_constant(name: str) -> Any:
    """Refuse the non-standard constant `name` (`NaN`, `Infinity`, `-Infinity`) where a JSON number must be."""
    raise ValueError(f"{name} is not a JSON number")


def loads_object(text: bytes | str, *, what: str = "the body") -> dict[str, Any]:
    """A JSON object (`ValidationError` for anything else)."""
    data = loads(text)
    if not isinstance(data, dict):
        raise ValidationError(f"{what} is not a JSON object")
    return data


def check_depth(raw: bytes, max_depth: int = MAX_DEPTH) -> None:
    """`ValidationError` if `raw` nests arrays and objects deeper than `max_depth`.

    Most documents have fewer opening brackets than `max_depth` and cost two counts.
    Otherwise strings are cut out, the brackets that remain kept (`{}` read as `[]`), and
    their running depth taken by C-speed iteration (no Python code per bracket).
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    brackets = _STRING.sub(b"", raw).translate(_OPENERS, _NOT_BRACKETS)
    if b"[" * (max_depth + 1) in brackets or max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth:
        raise ValidationError(f"the JSON is nested deeper than {max_depth} levels")
