"""What a page's wallet signs: typed data sent to JavaScript without loss, and what comes back with a signature."""

from __future__ import annotations

import json
from typing import Any

from careledger.errors import ValidationError
from careledger.identity import parse_signature
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


def signed_typed(form: dict[str, str], name: str = "typed") -> dict[str, Any]:
    """The signed typed data a form posts back (in field `name`), as a JSON object."""
    try:
        typed = json.loads(field(form, name, "The signed typed data", max_chars=8192))
    except json.JSONDecodeError:
        raise ValidationError("the signed typed data is not JSON") from None
    if not isinstance(typed, dict):
        raise ValidationError("the signed typed data is a JSON object")
    return typed


def signature_of(form: dict[str, str], name: str = "signature") -> bytes:
    """The 65-byte signature a form posts back (hex, in field `name`)."""
    return parse_signature(field(form, name, "The signature"))


def signed_parts(form: dict[str, str], names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Several signed typed data a form posts back, each as `typed_<name>` and `signature_<name>`."""
    typed = {name: signed_typed(form, f"typed_{name}") for name in names}
    return typed, {name: signature_of(form, f"signature_{name}") for name in names}
