"""What a search parameter's values are, read from a decrypted resource: strings, codes, references, dates, numbers.

The index (`_tokens`) and the checks and sort keys (`_matching`) read values the same way,
through these functions, so what is indexed is what is matched.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from careledger.fhir import Found

__all__ = ["Found"]

# The string parts of the complex types a string parameter can point at (HumanName, Address).
_STRING_PARTS = (
    "text",
    "family",
    "given",
    "prefix",
    "suffix",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
)
CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})


def normalized(text: str) -> str:
    """A string as string search compares it: case and accents ignored, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.casefold().split())


def strings(found: Found) -> Iterator[str]:
    """The strings a string parameter matches in one value: itself, or the parts of a name or an address."""
    value = found.value
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for part in _STRING_PARTS:
            item = value.get(part)
            for text in item if isinstance(item, list) else [item]:
                if isinstance(text, str):
                    yield text


def codes(found: Found) -> Iterator[tuple[str, str]]:
    """The (system, code) pairs a token parameter matches in one value (system "" when there is none)."""
    value = found.value
    if isinstance(value, bool):
        yield "", "true" if value else "false"
    elif isinstance(value, str | int):
        yield "", str(value)
    elif isinstance(value, dict):
        if isinstance(value.get("coding"), list):
            for coding in value["coding"]:
                if isinstance(coding, dict) and "code" in coding:
                    yield str(coding.get("system", "")), str(coding["code"])
        elif "code" in value:
            yield str(value.get("system", "")), str(value["code"])
        elif "value" in value:
            system = value.get("system", "")
            yield ("" if system in CONTACT_SYSTEMS else str(system)), str(value["value"])


def reference(found: Found) -> str | None:
    """`Type/id` of a local reference (absolute URLs reduced to their last two parts); None for others."""
    value = found.value
    target = value.get("reference") if isinstance(value, dict) else value if isinstance(value, str) else None
    if not isinstance(target, str) or target.startswith(("#", "urn:")):
        return None
    parts = target.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 and parts[-2][:1].isupper() else None


def identifier_of_reference(found: Found) -> tuple[str, str] | None:
    """The (system, value) of a reference made by identifier (`Reference.identifier`)."""
    value = found.value
    identifier = value.get("identifier") if isinstance(value, dict) else None
    if isinstance(identifier, dict) and "value" in identifier:
        return str(identifier.get("system", "")), str(identifier["value"])
    return None


def dates(found: Found) -> tuple[str | None, str | None] | None:
    """The (start, end) a date parameter compares, as FHIR date texts (None for an open end); None if not a date."""
    value = found.value
    if isinstance(value, str):
        return value, value
    if isinstance(value, dict) and ("start" in value or "end" in value):
        return value.get("start"), value.get("end")
    return None


def number(found: Found) -> Decimal | None:
    """The number of a number or quantity value."""
    value = found.value
    raw = value.get("value") if isinstance(value, dict) else value
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        return None


def unit(found: Found) -> tuple[str, str] | None:
    """The (system, code-or-unit) of a quantity."""
    value = found.value
    if not isinstance(value, dict):
        return None
    code = value.get("code", value.get("unit"))
    return (str(value.get("system", "")), str(code)) if code is not None else None
