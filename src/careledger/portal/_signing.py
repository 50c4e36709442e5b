"""What a page's wallet signs: typed data sent to JavaScript without loss, and what comes back with a signature."""

from __future__ import annotations

import json
from typing import Any

from careledger.errors import ValidationError
from careledger.portal._pages import field

_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER


def for_javascript(value: Any) -> Any:
    """Typed data a page's JavaScript reads without loss: integers past 2**53 (a grant id) as decimal strings,
    which EIP-712 wallets take for uint256."""
    if isinstance(value, dict):
        return {k: for_javascript(v) for k, v in value.items()}
    if isinstance(value, list):
        return [for_javascript(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER:
        return str(value)
    return value


def signed_typed(form: dict[str, str]) -> dict[str, Any]:
    """The signed typed data a form posts back, as a JSON object."""
    try:
        typed = json.loads(field(form, "typed", "The signed typed data", max_chars=8192))
    except json.JSONDecodeError:
        raise ValidationError("the signed typed data is not JSON") from None
    if not isinstance(typed, dict):
        raise ValidationError("the signed typed data is a JSON object")
    return typed


def signature_of(form: dict[str, str]) -> bytes:
    """The 65-byte signature a form posts back (hex)."""
    try:
        return bytes.fromhex(field(form, "signature", "The signature").removeprefix("0x"))
    except ValueError:
        raise ValidationError("the signature is hex") from None
