"""FHIR search parameters, as a URL carries them, into a `SearchQuery` that `records` runs.

The parameters are the specification's (`fhir.search_parameters`): a name the type does
not define is reported as unknown (the API ignores it, or refuses it under
`Prefer: handling=strict`); a modifier or prefix this node does not implement is a
`ValidationError`, never silently dropped. Kept beside the search it feeds (`_search.py`)
and the tokens it matches (`_tokens.py`), so what is indexed and what is asked agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from careledger.errors import ValidationError
from careledger.fhir import SearchParameter, search_parameters
from careledger.records._blind_index import END_DAY, MIN_DAY
from careledger.records._search import (
    PREFIXES,
    Chain,
    DateCondition,
    FhirDate,
    Has,
    PresenceCondition,
    SearchQuery,
    TokenCondition,
    ValueCheck,
)
from careledger.records._tokens import PREFIX_MAX, all_terms, exact_term, identifier_term
from careledger.records._values import normalized

# Parameters that shape the result rather than select records (`_format` picks JSON or XML).
RESULT_PARAMS = frozenset(
    {"_count", "_offset", "_sort", "_format", "_pretty", "_summary", "_elements", "_total", "_include", "_revinclude"}
)
# Each condition is a clause of one SQL statement, whose expression tree SQLite bounds at a depth of 1,000 (a
# search of ~1,000 repeated parameters failed there, after seconds of work); no real search comes near this.
MAX_CONDITIONS = 64
# The days a value compared with a dateTime on day D may fall on, as day conditions on a day around D: its own
# days and the query's are each local to a time zone (up to 14 hours off UTC), so the window is two days wider
# each way than the comparison; `ne` cannot be narrowed. `lt` D+3 keeps values starting up to D+2, and so on.
_DAYS_AROUND: dict[str, tuple[tuple[str, int], ...]] = {
    "eq": (("sa", -3), ("eb", 3)),
    "ne": (),
    "lt": (("lt", 3),),
    "le": (("lt", 3),),
    "gt": (("gt", -3),),
    "ge": (("gt", -3),),
    "sa": (("sa", -3),),
    "eb": (("eb", 3),),
}
# FHIR's decimal: no NaN or Infinity, which compare with nothing and broke the comparison (a 500), and within
# 10^±1000, so that a value's implicit range is reckoned without overflow; no measurement comes near.
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
MAX_MAGNITUDE = 1000
_MODIFIERS = {
    "token": ("", "not", "missing"),
    "string": ("", "exact", "contains", "missing"),
    "date": ("", "missing"),
    "reference": ("", "identifier", "missing"),
    "uri": ("", "missing"),
    "quantity": ("", "missing"),
    "number": ("", "missing"),
}


def search_query(
    resource_type: str, params: Iterable[tuple[str, str]], *, patient_address: str | None
) -> tuple[SearchQuery, list[str]]:
    """The query `params` ask for, and the names of parameters this node does not know."""
    known = search_parameters(resource_type)
    unknown: list[str] = []
    parts = _Parts()
    params = list(params)
    if sum(name not in RESULT_PARAMS for name, _ in params) > MAX_CONDITIONS:
        raise ValidationError(f"a search has at most {MAX_CONDITIONS} parameters (values of one may be comma-joined)")
    for name, value in params:
        if name in RESULT_PARAMS:
            if name == "_sort":
                parts.sort = _sort(known, value)
            continue
        if name.startswith("_has:"):
            parts.has.append(_has(name, value))
            continue
        code, _, modifier = name.partition(":")
        if "." in name:
            chain = _chain(known, name, value)
            if chain is None:
                unknown.append(name)
            else:
                parts.chains.append(chain)
            continue
        param = known.get(code)
        if param is None:
            unknown.append(name)
        elif code in ("_id", "_lastUpdated") and modifier:
            if modifier != "missing":
                raise ValidationError(f"{code}:{modifier} is not supported")
            if value == "true":  # every record has both
                parts.record_ids = ()
        elif code == "_id":
            ids = tuple(v for v in value.split(",") if v)
            parts.record_ids = ids if parts.record_ids is None else tuple(set(ids) & set(parts.record_ids))
        elif code == "_lastUpdated":
            parts.dates.append(_date("_lastUpdated", value))
        else:
            parts.add(param, modifier, value)
    query = SearchQuery(
        resource_type=resource_type,
        record_ids=parts.record_ids,
        patient_address=patient_address,
        tokens=tuple(parts.tokens),
        presence=tuple(parts.presence),
        dates=tuple(parts.dates),
        checks=tuple(parts.checks),
        chains=tuple(parts.chains),
        has=tuple(parts.has),
        sort=parts.sort,
    )
    return query, unknown


class _Parts:
    """The conditions of a query as they are read, parameter by parameter."""

    def __init__(self) -> None:
        self.record_ids: tuple[str, ...] | None = None
        self.tokens: list[TokenCondition] = []
        self.presence: list[PresenceCondition] = []
        self.dates: list[DateCondition] = []
        self.checks: list[ValueCheck] = []
        self.chains: list[Chain] = []
        self.has: list[Has] = []
        self.sort: tuple[tuple[str, bool], ...] = (("_lastUpdated", False),)

    def add(self, param: SearchParameter, modifier: str, value: str) -> None:
        """The conditions of `param:modifier=value`."""
        kind, code = param.kind, param.code
        if param.kind == "reference" and modifier[:1].isupper():
            modifier, value = "", f"{modifier}/{value}"  # subject:Patient=123
        if modifier not in _MODIFIERS[kind]:
            raise ValidationError(f"{code}:{modifier} is not supported: {kind} parameters take {_listed(kind)}")
        if modifier == "missing":
            if value not in ("true", "false"):
                raise ValidationError(f"{code}:missing takes true or false, not {value[:40]!r}")
            self.presence.append(PresenceCondition(all_terms(code), present=value == "false"))
            return
        values = tuple(v for v in value.split(",") if v)
        if not values:
            raise ValidationError(f"{code} needs a value")
        if kind == "token":
            self._codes(code, values, negate=modifier == "not", implied=param.code_systems)
        elif kind == "string":
            self._strings(code, modifier, values)
        elif kind == "date":
            if len(values) > 1:
                raise ValidationError(f"{code}: a date parameter takes one value (repeat the parameter to AND)")
            self._date(code, values[0])
        elif kind == "reference":
            self._references(param, modifier, values)
        elif kind == "uri":
            self.tokens.append(TokenCondition(code, values))
        else:  # quantity, number: the index finds those with a value (and the unit); the number is checked
            self._numbers(param, values)

    def _codes(
        self, term: str, values: tuple[str, ...], *, negate: bool = False, implied: frozenset[str] = frozenset()
    ) -> None:
        """`system|code`, `|code` (no system), `system|` (any code of the system) or `code`, OR-ed. A `code`
        element holds no system: the one the specification `implied` for it is as good as none."""
        by_system: dict[str | None, list[str]] = {}
        for value in values:
            named, separator, code = value.partition("|")
            if not separator or named in implied:
                named, separator, code = "", "", code if separator else value
            if not code:
                raise ValidationError(f"{term}={value[:60]}: a code is needed (any code of a system is not supported)")
            by_system.setdefault(named if separator else None, []).append(code)
        if len(by_system) > 1 and not negate:
            raise ValidationError(f"{term}: alternatives must share a system (repeat the parameter to AND)")
        for system, codes in by_system.items():
            self.tokens.append(TokenCondition(term, tuple(codes), system, negate))

    def _strings(self, code: str, modifier: str, values: tuple[str, ...]) -> None:
        if modifier == "exact":
            self.tokens.append(TokenCondition(exact_term(code), values))
        elif modifier == "contains":
            self.presence.append(PresenceCondition(all_terms(code), present=True))
            self.checks.append(ValueCheck(code, "contains", values))
        else:
            self.tokens.append(TokenCondition(code, tuple(normalized(v)[:PREFIX_MAX] for v in values)))
            if any(len(normalized(v)) > PREFIX_MAX for v in values):
                self.checks.append(ValueCheck(code, "prefix", values))

    def _date(self, code: str, value: str) -> None:
        """A date to the day, or coarser, is the index's to compare; a dateTime is compared to the second on the
        decrypted candidates (`_matching`), which the index first narrows to the days it may fall on."""
        prefix, rest = split_prefix(value)
        if "T" not in rest:
            self.dates.append(DateCondition(code, prefix, rest))
            return
        day = FhirDate.parse(rest).first_day
        self.checks.append(ValueCheck(code, "date", (value,)))
        for around, shift in _DAYS_AROUND[prefix]:
            if MIN_DAY <= day + shift < END_DAY:
                self.dates.append(DateCondition(code, around, date.fromordinal(day + shift).isoformat()))

    def _references(self, param: SearchParameter, modifier: str, values: tuple[str, ...]) -> None:
        if modifier == "identifier":
            self._codes(identifier_term(param.code), values)
            return
        targets = []
        for value in values:
            reference = _local(value)
            if "/" in reference:
                targets.append(reference)
            else:  # a bare id: any of the types the parameter may point at
                targets.extend(f"{target}/{reference}" for target in param.targets or ("Patient",))
        self.tokens.append(TokenCondition(param.code, tuple(targets)))

    def _numbers(self, param: SearchParameter, values: tuple[str, ...]) -> None:
        units: set[tuple[str, str]] = set()
        for value in values:
            number, _, unit = value.partition("|")
            search_number(number)  # refused here, at the edge, rather than on the first candidate
            if param.kind == "quantity" and unit:
                system, _, code = unit.partition("|")
                units.add((system, code))
        if len(units) == 1:
            system, code = units.pop()
            self.tokens.append(TokenCondition(param.code, (code,), system or None))
        else:
            self.presence.append(PresenceCondition(all_terms(param.code), present=True))
        self.checks.append(ValueCheck(param.code, param.kind, values))


def split_prefix(value: str) -> tuple[str, str]:
    """(prefix, rest) of a date, number or quantity value; `eq` when it has none."""
    if value[:2] in PREFIXES:
        return value[:2], value[2:]
    if value[:2] == "ap":
        raise ValidationError(f"the prefix ap (approximately) is not supported: {value[:40]!r}")
    return "eq", value


def search_number(value: str) -> tuple[str, Decimal]:
    """(prefix, number) of a number or quantity search value (`gt5.4`); a `ValidationError` unless the number is
    FHIR's decimal, its size and its precision within 10^±`MAX_MAGNITUDE`."""
    prefix, digits = split_prefix(value)
    if _DECIMAL.fullmatch(digits):
        number = Decimal(digits)
        exponent = number.as_tuple().exponent  # an int: the grammar has no NaN or Infinity
        if isinstance(exponent, int) and exponent >= -MAX_MAGNITUDE and number.adjusted() <= MAX_MAGNITUDE:
            return prefix, number
    raise ValidationError(f"not a FHIR decimal (with size and precision within 1e±{MAX_MAGNITUDE}): {digits[:40]!r}")


def _date(name: str, value: str) -> DateCondition:
    prefix, rest = split_prefix(value)
    return DateCondition(name, prefix, rest)


def _local(reference: str) -> str:
    """A reference as the index holds it: `Type/id` (an absolute URL's last two parts)."""
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


def _chain(known: Mapping[str, SearchParameter], name: str, value: str) -> Chain | None:
    """`subject:Patient.name=x` or `subject.name=x` (one level), if `subject` is a reference parameter of the type."""
    head, _, rest = name.partition(".")
    code, _, target = head.partition(":")
    param = known.get(code)
    if param is None or param.kind != "reference" or not rest or "." in rest:
        return None
    if not target:
        if len(param.targets) != 1:
            raise ValidationError(f"{code} may point at {', '.join(param.targets)}: name the type ({code}:Type.{rest})")
        target = param.targets[0]
    if param.targets and target not in param.targets:
        raise ValidationError(f"{code} does not point at {target}")
    return Chain(code, target, ((rest, value),))


def _has(name: str, value: str) -> Has:
    """`_has:Observation:patient:code=x` (one level)."""
    parts = name.split(":")
    if len(parts) != 4 or not all(parts[1:]):
        raise ValidationError(f"{name[:80]}: _has takes _has:Type:reference:parameter=value")
    _, source, param, inner = parts
    return Has(source, param, ((inner, value),))


def _sort(known: Mapping[str, SearchParameter], value: str) -> tuple[tuple[str, bool], ...]:
    keys = []
    for key in (k.strip() for k in value.split(",") if k.strip()):
        name = key.removeprefix("-")
        if name not in known:
            raise ValidationError(f"cannot sort by {name[:60]!r}: not a search parameter of this type")
        keys.append((name, key.startswith("-")))
    return tuple(keys) or (("_lastUpdated", False),)


def _listed(kind: str) -> str:
    return ", ".join(f":{m}" if m else "no modifier" for m in _MODIFIERS[kind])
