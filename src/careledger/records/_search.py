"""Search over the node's own index: current versions filtered by ids, owner and search tokens.

Nothing is decrypted to select. Token conditions match the blind `record_tokens` rows of
the current version (see `_tokens` for the terms each parameter kind indexes), each value
hashed as `BlindIndex` stores it, values of one condition OR-ed and conditions AND-ed.
Dates compare ranges at day precision with the specification's prefixes: a value's first
and last days are indexed, so `date=eq2024-03` finds values wholly inside March 2024,
`gt` values that end after it, `sa` values that start after it. `_lastUpdated` compares
the version's instant. What the index can only narrow (a string `:contains`, numbers,
quantities, a date against a dateTime) is carried as `ValueCheck`s, which `_matching` applies to the
decrypted candidates;
chains and `_has` are carried too, for the guarded repository to resolve with searches of
its own. A date that is not a FHIR date (year 0001-9999, real months and days) is a
`ValidationError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, not_, or_, select

from careledger.errors import ValidationError
from careledger.records._blind_index import END_DAY, MIN_DAY, BlindIndex
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS

_V = RECORD_VERSIONS.c
_T = RECORD_TOKENS.c
PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge", "sa", "eb")
COLUMN_SORTS = ("_lastUpdated", "_id")


@dataclass(frozen=True, slots=True)
class TokenCondition:
    """Term `param` has one of `values` (and `system`, when given); with `negate`, none of them."""

    param: str
    values: tuple[str, ...]
    system: str | None = None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class PresenceCondition:
    """The record has (`present`) or has not a value for a parameter: a term under any of `params`."""

    params: tuple[str, ...]
    present: bool


@dataclass(frozen=True, slots=True)
class DateCondition:
    """Date parameter `param` (a code, or `_lastUpdated`) compared by `prefix` with the range `value` names."""

    param: str
    prefix: str
    value: str


@dataclass(frozen=True, slots=True)
class ValueCheck:
    """A condition the index only narrows, checked on each decrypted candidate: `param` (a code) with
    `modifier` (`contains`, `prefix` for a long string, `number` or `quantity`, or `date` for a dateTime; the
    last three with the comparison prefix in the value) against any of `values`."""

    param: str
    modifier: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Chain:
    """`param` references a `target` that matches `params` (`subject:Patient.name=Ngozi`)."""

    param: str
    target: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Has:
    """A `source` record matching `params` references the record by its `param` (`_has:Observation:patient:code=x`)."""

    source: str
    param: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a search selects; `sort` is (parameter, descending) keys, the first of which may be a column."""

    resource_type: str | None = None
    record_id: str | None = None
    record_ids: tuple[str, ...] | None = None
    resource_types: tuple[str, ...] | None = None  # any of these types (`$everything`'s `_type`)
    patient_id: str | None = None
    patient_address: str | None = None
    patients: frozenset[str] | None = None  # only these patients' records (what the caller may see any of)
    other_than: frozenset[str] = frozenset()  # none of these patients' records (what a narrowed search left out)
    tokens: tuple[TokenCondition, ...] = ()
    presence: tuple[PresenceCondition, ...] = ()
    dates: tuple[DateCondition, ...] = ()
    checks: tuple[ValueCheck, ...] = ()
    chains: tuple[Chain, ...] = ()
    has: tuple[Has, ...] = ()
    sort: tuple[tuple[str, bool], ...] = (("_lastUpdated", False),)

    @property
    def index_ordered(self) -> bool:
        """Whether the index alone orders the matches (every sort key is a column), so a page can be cut from
        them before anything is decrypted."""
        return all(name in COLUMN_SORTS for name, _ in self.sort)


def search_statement(query: SearchQuery, columns: tuple[Any, ...], index: BlindIndex) -> Select[Any]:
    """The SELECT of the current, undeleted versions `query` matches, sorted by its column keys."""
    statement = select(*columns).where(_V.is_current, ~_V.deleted)
    for column, wanted in (
        (_V.resource_type, query.resource_type),
        (_V.record_id, query.record_id),
        (_V.patient_id, query.patient_id),
        (_V.patient_address, query.patient_address),
    ):
        if wanted is not None:
            statement = statement.where(column == wanted)
    if query.resource_types is not None:
        statement = statement.where(_V.resource_type.in_(query.resource_types))
    if query.record_ids is not None:
        statement = statement.where(_V.record_id.in_(query.record_ids) if query.record_ids else false())
    if query.patients is not None:
        statement = statement.where(_V.patient_address.in_(sorted(query.patients)))
    if query.other_than:
        statement = statement.where(_V.patient_address.not_in(sorted(query.other_than)))
    for token in query.tokens:
        statement = statement.where(_has_token(token, index))
    for presence in query.presence:
        found = exists().where(and_(_T.record_id == _V.record_id, _T.param.in_(presence.params)))
        statement = statement.where(found if presence.present else not_(found))
    for condition in query.dates:
        statement = statement.where(_date_condition(condition, index))
    order = []
    for name, descending in query.sort:
        if name not in COLUMN_SORTS:
            break  # the rest are sorted on the decrypted records (`_matching.sort_resources`)
        key = _V.last_updated if name == "_lastUpdated" else _V.record_id
        order.append(key.desc() if descending else key.asc())
    return statement.order_by(*order, _V.record_id)


def _has_token(token: TokenCondition, index: BlindIndex) -> ColumnElement[bool]:
    if token.system is None:
        match = _T.value.in_([index.value(token.param, value) for value in token.values])
    else:
        match = _T.system.in_([index.system_value(token.param, token.system, value) for value in token.values])
    found = exists().where(and_(_T.record_id == _V.record_id, _T.param == token.param, match))
    return not_(found) if token.negate else found


def _date_condition(condition: DateCondition, index: BlindIndex) -> ColumnElement[bool]:
    if condition.prefix not in PREFIXES:
        raise ValidationError(f"unknown date prefix {condition.prefix!r}: one of {', '.join(PREFIXES)}")
    wanted = FhirDate.parse(condition.value)
    if condition.param == "_lastUpdated":
        return _compare(_V.last_updated, condition.prefix, wanted.start, wanted.end)

    def days(which: str, start: int, end: int) -> ColumnElement[bool]:
        if start >= end:
            return false()
        terms = index.day_range(start, end)
        term = f"{condition.param}:{which}"
        return exists().where(and_(_T.record_id == _V.record_id, _T.param == term, _T.value.in_(terms)))

    first, end = wanted.first_day, wanted.end_day
    inside = and_(days("s", first, end), days("e", first, end))
    before = days("s", MIN_DAY, first)
    after = days("e", end, END_DAY)
    conditions: dict[str, ColumnElement[bool]] = {
        "eq": inside,
        "ne": not_(inside),
        "lt": before,
        "le": or_(before, inside),
        "gt": after,
        "ge": or_(after, inside),
        "sa": days("s", end, END_DAY),
        "eb": days("e", MIN_DAY, first),
    }
    return conditions[condition.prefix]


def _compare(column: Any, prefix: str, start: Any, end: Any) -> ColumnElement[bool]:
    inside = and_(column >= start, column < end)
    conditions: dict[str, ColumnElement[bool]] = {
        "eq": inside,
        "ne": not_(inside),
        "lt": column < start,
        "le": column < end,
        "gt": column >= end,
        "ge": column >= start,
        "sa": column >= end,
        "eb": column < start,
    }
    return conditions[prefix]


# FHIR's dateTime: a year 0001-9999, then optionally month, day, and a time with an optional zone.
_FHIR_DATE = re.compile(
    r"(?P<year>[0-9]{4})(-(?P<month>[0-9]{2})(-(?P<day>[0-9]{2})"
    r"(T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(:(?P<second>[0-9]{2})(\.[0-9]{1,9})?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FhirDate:
    """The range a FHIR date or dateTime names at its own precision: as day numbers, and as UTC instants."""

    first_day: int
    end_day: int
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, value: str) -> FhirDate:
        """`ValidationError` for anything that is not a FHIR date (year 0000, month 13, day 32, trailing text)."""
        found = _FHIR_DATE.fullmatch(value)
        if found is None or found["year"] == "0000":
            raise ValidationError(f"not a FHIR date: {value[:40]!r} (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)")
        year, month, day = int(found["year"]), int(found["month"] or 1), int(found["day"] or 1)
        try:
            first = date(year, month, day)
            if found["hour"] is not None:
                zone = found["zone"] or "Z"
                offset = (
                    timedelta()
                    if zone == "Z"
                    else int(zone[0] + "1") * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                )
                moment = datetime(
                    year,
                    month,
                    day,
                    int(found["hour"]),
                    int(found["minute"]),
                    int(found["second"] or 0),
                    tzinfo=timezone(offset),
                ).astimezone(UTC)
                precision = timedelta(seconds=1) if found["second"] else timedelta(minutes=1)
                start, end = moment, _add(moment, precision)
                return cls(first.toordinal(), first.toordinal() + 1, start, end)
        except (ValueError, OverflowError):
            raise ValidationError(f"not a FHIR date: {value[:40]!r} (no such day or time)") from None
        if found["day"] is not None:
            end_day = first.toordinal() + 1
        elif found["month"] is not None:
            end_day = date(year + month // 12, month % 12 + 1, 1).toordinal() if year < 9999 or month < 12 else END_DAY
        else:
            end_day = date(year + 1, 1, 1).toordinal() if year < 9999 else END_DAY
        return cls(first.toordinal(), end_day, _midnight(first.toordinal()), _midnight(end_day))


def _midnight(day: int) -> datetime:
    return datetime.combine(date.fromordinal(day), time(), UTC) if day < END_DAY else _LATEST


def _add(moment: datetime, step: timedelta) -> datetime:
    try:
        return moment + step
    except OverflowError:
        return _LATEST
