"""Units, amounts and moments as people read them: "mmHg" for `mm[Hg]`, "6 Dec 2026, 14:30" for an ISO instant.

Pure functions: a page calls them on whatever a FHIR client stored. UCUM codes are the
machine's spelling of a unit; no package on PyPI ships UCUM's print symbols, so the units
our records and the usual lab panels use are in a table, and any other UCUM code is
printed atom by atom (powers of ten as superscripts, `u` as micro, annotations as words),
falling back to the code itself.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from careledger.fhir import systems

# Whole UCUM codes whose printed form is not their atoms' (or that are common enough to say once).
_PRINTED = {
    "mm[Hg]": "mmHg",
    "Cel": "°C",
    "[degF]": "°F",
    "1": "",
    "%": "%",
    "/min": "/min",
    "{beats}/min": "beats/min",
    "{breaths}/min": "breaths/min",
    "kg/m2": "kg/m²",
    "mL/min/{1.73_m2}": "mL/min/1.73 m²",
    "[pH]": "",
}
# Single UCUM atoms printed otherwise than spelt.
_ATOMS = {
    "m2": "m²",
    "m3": "m³",
    "[iU]": "IU",
    "[IU]": "IU",
    "meq": "mEq",
    "[in_i]": "in",
    "[lb_av]": "lb",
    "[oz_av]": "oz",
    "[ft_i]": "ft",
    "mm[Hg]": "mmHg",
    "Cel": "°C",
}
# Annotations a dose is counted in, and their plurals.
_COUNTED = {
    "{tbl}": "tablet",
    "{tablet}": "tablet",
    "{capsule}": "capsule",
    "{cap}": "capsule",
    "{puff}": "puff",
    "{drop}": "drop",
    "{patch}": "patch",
    "{application}": "application",
}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_MICRO = re.compile(r"^u(?=(g|L|l|mol|m|s|U|eq|kat)$)")
_POWER = re.compile(r"^10\*(-?\d+)$")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def zone(name: str) -> tzinfo:
    """The IANA time zone `name` (the node's `timezone` setting, checked when the settings were read)."""
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def printed_unit(code: str, unit: str = "", system: str | None = systems.UCUM) -> str:
    """The unit as printed on a lab report: `unit` (a Quantity's words) unless it merely repeats a UCUM `code` or
    stands alone (many senders write UCUM there), which is then printed: 'mm[Hg]' is 'mmHg', '10*9/L' is ten to
    the ninth (in superscript) per litre. A code of another system is shown as given."""
    if unit and code and unit != code:
        return unit
    spelt = code or unit
    if system not in (systems.UCUM, None) or not spelt:
        return spelt
    if spelt in _PRINTED:
        return _PRINTED[spelt]
    return re.sub(r"[^/.]+", lambda m: _atom(m.group()), spelt).replace(".", "·")


def quantity(value: Any) -> str:
    """A FHIR Quantity in words: its comparator, number and printed unit ('<5 mmol/L', '2 tablets'); '' if none."""
    if not isinstance(value, dict) or not isinstance(value.get("value"), int | float | str):
        return ""
    number = value["value"]
    code = str(value.get("code") or value.get("unit") or "")
    counted = _COUNTED.get(code)
    if counted is not None:
        printed = counted if number == 1 else f"{counted}es" if counted.endswith("ch") else f"{counted}s"
    else:
        printed = printed_unit(str(value.get("code") or ""), str(value.get("unit") or ""), value.get("system"))
    separator = "" if printed == "%" else " "
    return f"{value.get('comparator', '')}{number}{separator}{printed}".strip()


def moment(value: Any, where: tzinfo = UTC, now: datetime | None = None, *, clock: bool = True) -> str:
    """A FHIR date, dateTime or instant as people read it, in `where`: '6 Dec 2026, 14:30', 'today, 09:05'
    (against `now`, when given), without the time unless `clock`; '6 Dec 2026' for a date, 'Dec 2026' or
    '2026' for a partial one; what cannot be read as a date is shown as it is."""
    text = str(value or "").strip()
    try:
        partial = _PARTIAL_DATE.match(text)
        if partial:
            year, month, day = partial.groups()
            if day:
                return _day(date(int(year), int(month), int(day)))
            return datetime(int(year), int(month), 1).strftime("%b %Y") if month else year
        at = datetime.fromisoformat(text)
    except ValueError:
        return text
    local = (at if at.tzinfo else at.replace(tzinfo=where)).astimezone(where)
    ago = (now.astimezone(where).date() - local.date()).days if now is not None else None
    day = ("today", "yesterday")[ago] if ago in (0, 1) else _day(local.date())
    return f"{day}, {local.strftime('%H:%M')}" if clock else day


def _day(day: date) -> str:
    return f"{day.day} {day.strftime('%b %Y')}"


def _atom(atom: str) -> str:
    """One UCUM atom (between '/' and '.') printed."""
    if atom in _ATOMS:
        return _ATOMS[atom]
    power = _POWER.match(atom)
    if power:
        return "\N{MULTIPLICATION SIGN}10" + power.group(1).translate(_SUPERSCRIPT)
    if atom.startswith("{") and atom.endswith("}"):
        return atom[1:-1].replace("_", " ")
    return _MICRO.sub("µ", atom).replace("[", "").replace("]", "")
