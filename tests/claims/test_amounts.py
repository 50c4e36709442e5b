"""Token amounts: exact in both directions, however many digits, and refused rather than rounded."""

from __future__ import annotations

import time

import pytest

from careledger.claims import from_units, to_units
from careledger.errors import ValidationError
from careledger.research import care


def test_an_amount_of_more_digits_than_decimal_s_context_is_exact() -> None:
    # 30 significant digits: Decimal's default context keeps 28, and used to round this by 2 base units
    assert to_units("12345678901.123456789012345678", 18) == 12345678901123456789012345678
    assert f"{from_units(123456789012345678901234567890123, 18):f}" == "123456789012345.678901234567890123"


@pytest.mark.parametrize(
    ("units", "words"),
    [(1, "0.000000000000000001"), (10**11, "0.0000001"), (150 * 10**18, "150"), (15 * 10**17, "1.5"), (0, "0")],
)
def test_care_is_a_plain_decimal_string_never_an_exponent(units: int, words: str) -> None:
    assert care(units) == words
    assert to_units(words, 18) == units


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("0.0000000000000000001", "finer than the token's 18 decimals"),
        ("1e60", "more than the token can hold"),
        (str(2**256), "more than the token can hold"),
        ("-1", "not an amount"),
        ("NaN", "not an amount"),
        ("abc", "not an amount"),
    ],
)
def test_an_amount_the_token_cannot_hold_exactly_is_refused(amount: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        to_units(amount, 18)


def test_a_huge_exponent_is_refused_before_any_huge_number_is_made() -> None:
    started = time.monotonic()
    with pytest.raises(ValidationError, match="more than the token can hold"):
        to_units("1e100000000", 18)
    assert time.monotonic() - started < 0.5
