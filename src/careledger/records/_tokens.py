"""Search tokens: what the node indexes so it can search without decrypting every record.

Every search parameter the specification defines for a resource's type (`fhir.search_parameters`)
is evaluated on each write, and its values become tokens by the parameter's kind:

| kind      | terms (each `param` name below, with system and value)                               |
|-----------|--------------------------------------------------------------------------------------|
| token     | `code`: (system, code) of each Coding, Identifier, ContactPoint, code or boolean     |
| string    | `code`: each prefix (up to 12 characters) of the normalized string; `code:exact`      |
| date      | `code:s`: the first day of the value's range; `code:e`: its last day (day buckets)    |
| reference | `code`: the `Type/id` it points at; `code:identifier`: a reference by identifier      |
| uri       | `code`: the URI                                                                       |
| quantity  | `code`: (system, code or unit); the number is checked on the decrypted resource      |
| any       | `code:present`: a value that gave none of the terms above (for `:missing`)            |

They are stored only as the blind index's keyed hashes (`blind_terms`, see `_blind_index`),
never as themselves. `_id` and `_lastUpdated` are columns of the version, not tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from careledger.errors import ValidationError
from careledger.fhir import search_parameters
from careledger.records import _values
from careledger.records._blind_index import END_DAY, MIN_DAY, BlindIndex
from careledger.records._search import FhirDate

Resource = dict[str, Any]

PREFIX_MAX = 12  # longer prefixes are found by their first 12 characters, then checked
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})


def present_term(code: str) -> str:
    """The term saying a record has a value for `code` that gave no other term (a number, a text-only concept)."""
    return f"{code}:present"


def all_terms(code: str) -> tuple[str, ...]:
    """Every term name `code` may be indexed under: a record with any of them has a value for it (`:missing`)."""
    return (code, exact_term(code), start_term(code), identifier_term(code), present_term(code))


def exact_term(code: str) -> str:
    """The term of a string parameter's whole value, as written (`:exact`)."""
    return f"{code}:exact"


def start_term(code: str) -> str:
    """The day-bucket term of the first day of a date parameter's value."""
    return f"{code}:s"


def end_term(code: str) -> str:
    """The day-bucket term of the last day of a date parameter's value."""
    return f"{code}:e"


def identifier_term(code: str) -> str:
    """The term of a reference made by identifier (`:identifier`)."""
    return f"{code}:identifier"


@dataclass(frozen=True, slots=True)
class Token:
    """A term to index: `param` (a term name from the table above) with `system` and `value`, or a `day`.

    `coded`: searched with a system too (`system|code`), so the system column is hashed as well.
    """

    param: str
    system: str = ""
    value: str = ""
    day: int | None = None
    coded: bool = False


def tokens(resource: Resource) -> Iterator[Token]:
    """Every search token of one resource."""
    for param in search_parameters(str(resource["resourceType"])).values():
        if param.code in COLUMN_PARAMS:
            continue
        found = param.values(resource)
        if not found:
            continue
        terms = [token for item in found for token in _TOKENIZERS[param.kind](param.code, item)]
        yield from terms or [Token(present_term(param.code), value="1")]


def _token_terms(code: str, found: _values.Found) -> Iterator[Token]:
    for system, value in _values.codes(found):
        yield Token(code, system, value, coded=True)


def _string_terms(code: str, found: _values.Found) -> Iterator[Token]:
    for text in _values.strings(found):
        yield Token(exact_term(code), value=text)
        plain = _values.normalized(text)
        for length in range(1, min(len(plain), PREFIX_MAX) + 1):
            yield Token(code, value=plain[:length])


def _date_terms(code: str, found: _values.Found) -> Iterator[Token]:
    span = _values.dates(found)
    if span is None:
        return
    try:
        first_day = FhirDate.parse(span[0]).first_day if span[0] else MIN_DAY
        last_day = FhirDate.parse(span[1]).end_day - 1 if span[1] else END_DAY - 1
    except ValidationError:  # the models validated it; a date they allow and we cannot read is not searchable
        return
    yield Token(start_term(code), day=first_day)
    yield Token(end_term(code), day=last_day)


def _reference_terms(code: str, found: _values.Found) -> Iterator[Token]:
    target = _values.reference(found)
    if target is not None:
        yield Token(code, value=target)
    elif isinstance(found.value, str):  # a canonical URL
        yield Token(code, value=found.value)
    identifier = _values.identifier_of_reference(found)
    if identifier is not None:
        yield Token(identifier_term(code), *identifier, coded=True)


def _uri_terms(code: str, found: _values.Found) -> Iterator[Token]:
    if isinstance(found.value, str):
        yield Token(code, value=found.value)


def _quantity_terms(code: str, found: _values.Found) -> Iterator[Token]:
    unit = _values.unit(found)
    if unit is not None:
        yield Token(code, *unit, coded=True)


def _no_terms(_code: str, _found: _values.Found) -> Iterator[Token]:
    return iter(())


_TOKENIZERS = {
    "token": _token_terms,
    "string": _string_terms,
    "date": _date_terms,
    "reference": _reference_terms,
    "uri": _uri_terms,
    "quantity": _quantity_terms,
    "number": _no_terms,
}


def blind_terms(found: Iterator[Token], index: BlindIndex) -> Iterator[dict[str, str]]:
    """The `record_tokens` values (param, system, value) that stand for `found`: keyed hashes only."""
    seen: set[Token] = set()
    for token in found:
        if token in seen:
            continue
        seen.add(token)
        if token.day is None:
            yield {
                "param": token.param,
                "system": index.system_value(token.param, token.system, token.value) if token.coded else "",
                "value": index.value(token.param, token.value),
            }
        else:
            for term in index.day_buckets(token.day):
                yield {"param": token.param, "system": "", "value": term}
