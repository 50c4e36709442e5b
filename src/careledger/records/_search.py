"""Search over the node's own index: current versions filtered by ids, owner and search tokens.

Nothing is decrypted to search. Token conditions match the `record_tokens` rows of the
current version (`code`, `status`, `identifier`: system optional, values OR-ed; `date`:
a range), `_lastUpdated` matches the version's time. Dates are compared as ranges, so
`date=eq2024-03` matches any time in March 2024 and `date=gt2024-03` only after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select

from careledger.errors import ValidationError
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


def search_statement(query: SearchQuery, columns: tuple[Any, ...]) -> Select[Any]:
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
        statement = statement.where(_has_token(token))
    for date in query.dates:
        statement = statement.where(_date_condition(date))
    if query.sort not in SORTS:
        raise ValidationError(f"cannot sort by {query.sort!r}: one of {', '.join(SORTS)}")
    key = _V.last_updated if query.sort.lstrip("-") == "_lastUpdated" else _V.record_id
    order = key.desc() if query.sort.startswith("-") else key.asc()
    return statement.order_by(order, _V.record_id)


def _has_token(token: TokenCondition) -> ColumnElement[bool]:
    conditions = [_T.record_id == _V.record_id, _T.param == token.param, _T.value.in_(token.values)]
    if token.system is not None:
        conditions.append(_T.system == token.system)
    return exists().where(and_(*conditions))


def _date_condition(date: DateCondition) -> ColumnElement[bool]:
    if date.prefix not in PREFIXES:
        raise ValidationError(f"unknown date prefix {date.prefix!r}: one of {', '.join(PREFIXES)}")
    start, end = date_range(date.value)
    if date.param == "_lastUpdated":
        return _compare(_V.last_updated, date.prefix, _instant(start), _instant(end))
    return exists().where(
        and_(_T.record_id == _V.record_id, _T.param == "date", _compare(_T.value, date.prefix, start, end))
    )


def _compare(column: Any, prefix: str, start: Any, end: Any) -> ColumnElement[bool]:
    conditions: dict[str, ColumnElement[bool]] = {
        "eq": and_(column >= start, column < end),
        "lt": column < start,
        "le": column < end,
        "gt": column >= end,
        "ge": column >= start,
    }
    return conditions[prefix]


def date_range(value: str) -> tuple[str, str]:
    """The half-open range of ISO strings a FHIR date names at its own precision."""
    try:
        if len(value) == 4:
            year = int(value)
            return f"{year:04d}", f"{year + 1:04d}"
        if len(value) == 7:
            month = datetime.strptime(value, "%Y-%m")
            following = (month.year + month.month // 12, month.month % 12 + 1)
            return value, f"{following[0]:04d}-{following[1]:02d}"
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d")
            return value, (day + timedelta(days=1)).strftime("%Y-%m-%d")
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not a FHIR date: {value!r}") from None
    return value, (moment + timedelta(seconds=1)).isoformat()


def _instant(text: str) -> datetime:
    """A range bound as a UTC datetime (for the `last_updated` column)."""
    padded = {4: "-01-01", 7: "-01"}.get(len(text), "")
    moment = datetime.fromisoformat((text + padded).replace("Z", "+00:00"))
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
