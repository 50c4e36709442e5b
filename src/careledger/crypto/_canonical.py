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
    if _is_flat_and_plain(value):
        # Commitments and record contexts are hashed per record: for a flat object of
        # ASCII keys and strings, small ints, booleans and nulls, sorted compact `json`
        # output is byte for byte RFC 8785 (held equal by a property test), and ten times faster.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationError(f"cannot serialise canonically: {exc}") from None


def _is_flat_and_plain(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str)
        and key.isascii()
        and (
            item is None or isinstance(item, str | bool) or (isinstance(item, int) and -_EXACT_INT < item < _EXACT_INT)
        )
        for key, item in value.items()
    )
