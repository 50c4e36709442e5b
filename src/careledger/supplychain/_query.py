"""The EPCIS 2.0 event query a node serves (`GET /epcis/events`), parsed at the edge into a checked `EventQuery`.

Parameters as the EPCIS REST binding writes them: lists are pipe-delimited (`EQ_bizStep=shipping|receiving`) or
repeated; times are ISO 8601 with an offset. A value this node cannot honour is refused naming the parameter
(`ValidationError`, a 400), never silently ignored: a query that looks answered but filtered nothing would mislead.
EPCs match exactly, once both sides are put in their GS1 Digital Link form (`urn:epc:id:sgtin:…` finds the pack
an event named by its Digital Link); EPC patterns (`urn:epc:idpat:…`) are refused.

Results come in a stable order (the order this node recorded them: record time, then sequence) a page at a time;
`nextPageToken` is opaque, and bound to the filters it was given with, so it cannot page another query.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select

from careledger.errors import ValidationError
from careledger.store import SUPPLY_EVENT_EPCS, SUPPLY_EVENTS
from careledger.supplychain._cbv import biz_step, disposition
from careledger.supplychain._epcis import CARELEDGER_NS, EPCIS_CONTEXT, EVENT_TYPES, instant
from careledger.supplychain._gs1 import parse_epc

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000
MAX_SEQ = 2**62  # a page token's position: a sequence number, far below what a database's integer holds
# A time whose offset's `+` a URL turned into a space (`…T06:00:00 01:00`).
_PLUS_AS_SPACE = re.compile(r"\d \d\d:?\d\d$")

_TIMES = {"GE_eventTime": "ge_event_time", "LT_eventTime": "lt_event_time"} | {
    "GE_recordTime": "ge_record_time",
    "LT_recordTime": "lt_record_time",
}
_LISTS = {
    "eventType": "event_types",
    "EQ_bizStep": "biz_steps",
    "EQ_disposition": "dispositions",
    "MATCH_epc": "match_epc",
    "MATCH_anyEPC": "match_any_epc",
    "MATCH_parentID": "match_parent_id",
    "EQ_eventID": "event_ids",
}
PARAMETERS = (*_LISTS, *_TIMES, "perPage", "nextPageToken")

_EVENTS = SUPPLY_EVENTS.c
_EPCS = SUPPLY_EVENT_EPCS.c
# The EPC roles each MATCH_ parameter looks in (EPCIS 2.0 section 8.2.7.1).
_ROLES: dict[str, tuple[str, ...]] = {
    "match_epc": ("epc",),
    "match_parent_id": ("parent",),
    "match_any_epc": ("epc", "parent", "input", "output"),
}


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A checked EPCIS event query: each filter a tuple of accepted values (empty: no filter), time bounds, the
    page size, and where the page starts (`after`: the last sequence number of the page before)."""

    event_types: tuple[str, ...] = ()
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    biz_steps: tuple[str, ...] = ()
    dispositions: tuple[str, ...] = ()
    match_epc: tuple[str, ...] = ()
    match_any_epc: tuple[str, ...] = ()
    match_parent_id: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    per_page: int = DEFAULT_PER_PAGE
    after: int | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, params: Mapping[str, Any] | Iterable[tuple[str, str]]) -> EventQuery:
        """The query the parameters (a mapping, a multi-valued mapping such as Starlette's, or pairs) ask for;
        `ValidationError` naming the first parameter that is unknown or has a bad value."""
        values: dict[str, Any] = {}
        token = None
        for name, value in _pairs(params):
            if name in _LISTS:
                key = _LISTS[name]
                values[key] = (*values.get(key, ()), *_list(name, value, key))
            elif name in _TIMES:
                values[_TIMES[name]] = _time(name, value)
            elif name == "perPage":
                values["per_page"] = _per_page(value)
            elif name == "nextPageToken":
                token = value
            else:
                raise ValidationError(f"{name}: not a query parameter this node serves ({', '.join(PARAMETERS)})")
        query = cls(**values)
        return query if token is None else replace(query, after=query._position(token))

    def next_token(self, last_seq: int) -> str:
        """The opaque token of the page after the one that ended at `last_seq`."""
        raw = json.dumps({"after": last_seq, "query": self._fingerprint()}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def statement(self) -> Select[Any]:
        """The page's rows (one more than a page: whether another follows), in the order they were recorded."""
        query = select(_EVENTS.seq, _EVENTS.body, _EVENTS.record_time).order_by(_EVENTS.seq).limit(self.per_page + 1)
        for column, wanted in (
            (_EVENTS.event_type, self.event_types),
            (_EVENTS.biz_step, self.biz_steps),
            (_EVENTS.disposition, self.dispositions),
            (_EVENTS.event_id, self.event_ids),
        ):
            if wanted:
                query = query.where(column.in_(wanted))
        for column, low, high in (
            (_EVENTS.event_time, self.ge_event_time, self.lt_event_time),
            (_EVENTS.record_time, self.ge_record_time, self.lt_record_time),
        ):
            if low is not None:
                query = query.where(column >= low)
            if high is not None:
                query = query.where(column < high)
        for name, roles in _ROLES.items():
            epcs = getattr(self, name)
            if epcs:
                named = select(_EPCS.seq).where(_EPCS.epc.in_(epcs), _EPCS.role.in_(roles))
                query = query.where(_EVENTS.seq.in_(named))
        if self.after is not None:
            query = query.where(_EVENTS.seq > self.after)
        return query

    def _fingerprint(self) -> str:
        """What the filters are, in short: a token names the query it pages."""
        filters = asdict(self)
        del filters["per_page"], filters["after"]
        canonical = json.dumps(filters, default=str, sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]

    def _position(self, token: str) -> int:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            after, fingerprint = decoded["after"], decoded["query"]
        except (ValueError, TypeError, KeyError):
            raise ValidationError("nextPageToken: not a token this node gave") from None
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_SEQ:
            raise ValidationError("nextPageToken: not a token this node gave")
        if fingerprint != self._fingerprint():
            raise ValidationError("nextPageToken: not a token of this query (its filters changed)")
        return after


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, in the order they were recorded, and the token of the next page (None: the last)."""

    events: list[dict[str, Any]]
    next_page_token: str | None = None


def query_document(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Events as an EPCIS 2.0 `EPCISQueryDocument` (GS1's context, and CareLedger's for the signatures)."""
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "@context": [EPCIS_CONTEXT, {"careledger": CARELEDGER_NS}],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": list(events)}}},
    }


def canonical_epc(uri: str) -> str:
    """An EPC as this node keeps and matches it: a pack's or container's GS1 Digital Link (whatever form it was
    written in), any other URI as given."""
    try:
        return parse_epc(uri).epc
    except ValidationError:
        return uri


def _pairs(params: Mapping[str, Any] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    """(name, value) of every parameter, a repeated one once per value."""
    multi = getattr(params, "multi_items", None)
    if callable(multi):
        return [(str(name), str(value)) for name, value in multi()]
    if isinstance(params, Mapping):
        pairs: list[tuple[str, str]] = []
        for name, value in params.items():
            many = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
            pairs.extend((str(name), str(one)) for one in many)
        return pairs
    return params


def _list(name: str, value: str, key: str) -> tuple[str, ...]:
    """A pipe-delimited list's values, each checked (and put in the form the store keeps) for its parameter."""
    items = tuple(item.strip() for item in value.split("|"))
    if not all(items):
        raise ValidationError(f"{name}: an empty value in {value!r}")
    if key == "event_types":
        for item in items:
            if item not in EVENT_TYPES:
                raise ValidationError(f"{name}: {item!r} is not an event type ({', '.join(EVENT_TYPES)})")
        return items
    if key == "biz_steps":
        return tuple(biz_step(item) for item in items)
    if key == "dispositions":
        return tuple(disposition(item) for item in items)
    if key in _ROLES:
        if any(item.startswith("urn:epc:idpat:") for item in items):
            raise ValidationError(f"{name}: EPC patterns (urn:epc:idpat:…) are not served; name each EPC")
        return tuple(canonical_epc(item) for item in items)
    return items


def _time(name: str, value: str) -> datetime:
    """A time bound, in UTC; its refusal says how to send a `+` offset if a URL made it a space."""
    try:
        return instant(name, value.strip())
    except ValidationError as exc:
        if _PLUS_AS_SPACE.search(value.strip()):
            raise ValidationError(f"{exc} (a + in a URL reads as a space: encode it as %2B)") from None
        raise


def _per_page(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ValidationError(f"perPage: {value!r} is not a whole number") from None
    if not 1 <= count <= MAX_PER_PAGE:
        raise ValidationError(f"perPage: {count} is outside 1..{MAX_PER_PAGE}")
    return count
