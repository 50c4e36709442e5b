"""Canonical JSON (RFC 8785, JCS) for everything CareLedger hashes or signs.

Two nodes that hash the same data must get the same bytes, whatever key order or number
formatting their JSON libraries chose; the `rfc8785` package implements the standard.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from careledger.errors import ValidationError

# Integers JSON numbers carry exactly (RFC 8785 writes every number as an IEEE double).
_EXACT_INT = 2**53


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value` (dicts, lists, str, int, float, bool, None)."""
    if _is_plain(value):
        # Commitments, record contexts and audit events are hashed per record or access:
        # for JSON of ASCII keys, strings, small ints, booleans and nulls (no floats), sorted
        # compact `json` output is byte for byte RFC 8785 (held equal by a property test),
        # and several times faster.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationError(f"cannot serialise canonically: {exc}") from None


def _is_plain(value: Any) -> bool:
    # Exact types, not isinstance: this runs on every node of every hashed document, and
    # subclasses (enums, say) are left to rfc8785, which knows how to write them or refuses.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_EXACT_INT < value < _EXACT_INT)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _is_plain(item):
                return False
        return True
    if kind is list:
        return all(map(_is_plain, value))
    return False
