"""Canonical JSON (RFC 8785, JCS) for everything CareLedger hashes or signs.

Two nodes that hash the same data must get the same bytes, whatever key order or number
formatting their JSON libraries chose; the `rfc8785` package implements the standard.
"""

from __future__ import annotations

from typing import Any

import rfc8785

from careledger.errors import ValidationError


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value` (dicts, lists, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationError(f"cannot serialise canonically: {exc}") from None
