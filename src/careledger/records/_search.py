"""Search over the node's own index: current versions filtered by ids, owner and search tokens.

Nothing is decrypted to search. Token conditions match the blind `record_tokens` rows of
the current version (`code`, `status`, `identifier`: system optional, values OR-ed, each
hashed as `BlindIndex` stores it; `date`: the buckets covering a range of days), and
`_lastUpdated` matches the version's time. Dates are compared as ranges, so
`date=eq2024-03` matches any day in March 2024 and `date=gt2024-03` only after it.
A date that is not a FHIR date (year 0001-9999, real months and days) is a `ValidationError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, select

from careledger.errors import ValidationError
from careledger.records._blind_index import END_DAY, MIN_DAY, BlindIndex
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS

_V = RECORD_VERSIONS.c
_T = RECORD_TOKENS.c
PREFIXES = ("eq", "lt", "le", "gt", "ge")
SORTS = ("_lastUpdated", "-_lastUpdated", "_id", "-_id")


@dataclass(frozen=True, slots=True)
class TokenCondition:
    """`param` has a token with one of `values` (and `system`, when given)."""

    param: str
    values: tuple[str, ...]
    system: str | None = None


@dataclass(frozen=True, slots=True)
class DateCondition:
    """`param` (`date` or `_lastUpdated`) compared by `prefix` with the range `value` names."""

    param: str
    prefix: str
    value: str


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str | None = None
    record_id: str | None = None
    patient_id: str | None = None
    patient_address: str | None = None
    tokens: tuple[TokenCondition, ...] = ()
    dates: tuple[DateCondition, ...] = ()
    sort: str = "_lastUpdated"


def search_statement(query: SearchQuery, columns: tuple[Any, ...], index: BlindIndex) -> Select[Any]:
    """The SELECT of the current, undeleted versions `query` matches, sorted."""
    statement = select(*columns).where(_V.is_current, ~_V.deleted)
    for column, wanted in (
        (_V.resource_type, query.resource_type),
        (_V.record_id, query.record_id),
        (_V.patient_id, query.patient_id),
        (_V.patient_address, query.patient_address),
    ):
        if wanted is not None:
            statement = statement.where(column == wanted)
    for token in query.tokens:
        statement = statement.where(_has_token(token, index))
    for condition in query.dates:
        statement = statement.where(_date_condition(condition, index))
    if query.sort not in SORTS:
        raise ValidationError(f"cannot sort by {query.sort!r}: one of {', '.join(SORTS)}")
    key = _V.last_updated if query.sort.lstrip("-") == "_lastUpdated" else _V.record_id
    order = key.desc() if query.sort.startswith("-") else key.asc()
    return statement.order_by(order, _V.record_id)


def _has_token(token: TokenCondition, index: BlindIndex) -> ColumnElement[bool]:
    if token.system is None:
        match = _T.value.in_([index.value(token.param, value) for value in token.values])
    else:
        match = _T.system.in_([index.system_value(token.param, token.system, value) for value in token.values])
    return exists().where(and_(_T.record_id == _V.record_id, _T.param == token.param, match))


def _date_condition(condition: DateCondition, index: BlindIndex) -> ColumnElement[bool]:
    if condition.prefix not in PREFIXES:
        raise ValidationError(f"unknown date prefix {condition.prefix!r}: one of {', '.join(PREFIXES)}")
    wanted = FhirDate.parse(condition.value)
    if condition.param == "_lastUpdated":
        return _compare(_V.last_updated, condition.prefix, wanted.start, wanted.end)
    start, end = {
        "eq": (wanted.first_day, wanted.end_day),
        "lt": (MIN_DAY, wanted.first_day),
        "le": (MIN_DAY, wanted.end_day),
        "gt": (wanted.end_day, END_DAY),
        "ge": (wanted.first_day, END_DAY),
    }[condition.prefix]
    if start >= end:
        return false()
    terms = index.day_range(start, end)
    return exists().where(and_(_T.record_id == _V.record_id, _T.param == "date", _T.value.in_(terms)))


def _compare(column: Any, prefix: str, start: Any, end: Any) -> ColumnElement[bool]:
    conditions: dict[str, ColumnElement[bool]] = {
        "eq": and_(column >= start, column < end),
        "lt": column < start,
        "le": column < end,
        "gt": column >= end,
        "ge": column >= start,
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
