"""Token amounts: decimal strings for people, integers of base units for the chain.

No float ever holds money: "150.25" with 18 decimals is parsed exactly, and an amount
finer than the token's smallest unit is refused rather than rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from careledger.errors import ValidationError


def to_units(amount: str | Decimal, decimals: int) -> int:
    """Base units of `amount` (a decimal number of whole tokens)."""
    try:
        value = Decimal(amount) if isinstance(amount, str) else amount
    except InvalidOperation:
        raise ValidationError(f"not an amount: {amount!r}") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"not an amount: {amount!r}")
    units = value.scaleb(decimals)
    if units != units.to_integral_value():
        raise ValidationError(f"{amount} is finer than the token's {decimals} decimals")
    return int(units)


def from_units(units: int, decimals: int) -> Decimal:
    """Whole tokens, exactly, with trailing zeros dropped (150, not 150.000000000000000000)."""
    value = Decimal(units).scaleb(-decimals)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
