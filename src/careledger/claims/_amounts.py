"""Token amounts: decimal strings for people, integers of base units for the chain.

No float ever holds money: "150.25" with 18 decimals is parsed exactly, and an amount
finer than the token's smallest unit is refused rather than rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from careledger.errors import ValidationError

MAX_UNITS = 2**256 - 1  # what a uint256 balance or allowance holds


def to_units(amount: str | Decimal, decimals: int) -> int:
    """Base units of `amount` (a decimal number of whole tokens), exactly: in integers, not in `Decimal`'s
    28-digit context, which would round an amount of more digits without a word."""
    try:
        value = Decimal(amount) if isinstance(amount, str) else amount
    except InvalidOperation:
        raise ValidationError(f"not an amount: {amount!r}") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"not an amount: {amount!r}")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # a finite Decimal's
    shift = exponent + decimals
    if shift > 78:  # more than any uint256 holds, whatever its digits: refused before a huge power is made
        raise ValidationError(f"{str(amount)[:40]} is more than the token can hold")
    coefficient = int("".join(map(str, digits)) or "0")
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        units = coefficient * scale
    else:
        units, finer = divmod(coefficient, scale)
        if finer:
            raise ValidationError(f"{str(amount)[:40]} is finer than the token's {decimals} decimals")
    if units > MAX_UNITS:
        raise ValidationError(f"{str(amount)[:40]} is more than the token can hold")
    return units


def from_units(units: int, decimals: int) -> Decimal:
    """Whole tokens, exactly (not rounded to `Decimal`'s 28 digits), with trailing zeros dropped (150, not
    150.000000000000000000). Format it with `:f` for people: `str` of a tiny amount is "1E-18"."""
    whole, fraction = divmod(abs(units), 10**decimals)
    sign = "-" if units < 0 else ""
    if not fraction:
        return Decimal(f"{sign}{whole}")
    return Decimal(f"{sign}{whole}.{str(fraction).rjust(decimals, '0').rstrip('0')}")


def amount_text(units: int, decimals: int) -> str:
    """Whole tokens as a plain decimal string ("0.000000000000000001", never "1E-18"), for people and for JSON."""
    return f"{from_units(units, decimals):f}"
