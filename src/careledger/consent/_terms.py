"""The vocabulary of a consent: HL7 purposes of use, and category names as a user types them."""

from __future__ import annotations

from enum import StrEnum

from careledger.errors import ValidationError
from careledger.records import Category


class Purpose(StrEnum):
    """HL7 v3 PurposeOfUse codes a consent may name. The order is ConsentRegistry's bit layout."""

    TREAT = "TREAT"  # treatment
    ETREAT = "ETREAT"  # emergency treatment (break-glass)
    HPAYMT = "HPAYMT"  # healthcare payment
    HOPERAT = "HOPERAT"  # healthcare operations
    HRESCH = "HRESCH"  # healthcare research
    PATRQT = "PATRQT"  # patient requested

    @property
    def bit(self) -> int:
        """The purpose's bit in a consent's purpose mask."""
        return 1 << list(Purpose).index(self)

    @property
    def display(self) -> str:
        """The purpose's HL7 display name."""
        return _DISPLAY[self]

    @classmethod
    def parse(cls, text: str) -> Purpose:
        """A purpose from its code (TREAT); `ValidationError` naming the known ones."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            raise ValidationError(f"unknown purpose {text!r}: one of {', '.join(cls)}") from None

    @classmethod
    def from_mask(cls, mask: int) -> list[Purpose]:
        """The purposes a bitmask holds."""
        return [purpose for purpose in cls if mask & purpose.bit]


_DISPLAY = {
    Purpose.TREAT: "treatment",
    Purpose.ETREAT: "emergency treatment",
    Purpose.HPAYMT: "healthcare payment",
    Purpose.HOPERAT: "healthcare operations",
    Purpose.HRESCH: "healthcare research",
    Purpose.PATRQT: "patient requested",
}

# `--categories all` means every category but the sensitive ones, which a consent must name.
_ALL = "all"


def parse_categories(text: str) -> list[Category]:
    """`labs,vitals` (or `all`: every non-sensitive category) as categories."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise ValidationError("name at least one category")
    categories: list[Category] = []
    for name in names:
        if name == _ALL:
            categories.extend(category for category in Category if not category.sensitive)
            continue
        try:
            categories.append(Category(name))
        except ValueError:
            choices = ", ".join([_ALL, *Category])
            raise ValidationError(f"unknown category {name!r}: one of {choices}") from None
    return list(dict.fromkeys(categories))


def parse_purposes(text: str) -> list[Purpose]:
    """Purposes from a comma-separated list of codes."""
    return list(dict.fromkeys(Purpose.parse(name) for name in text.split(",") if name.strip()))
