"""FHIR search parameters (as a URL carries them) into a `SearchQuery` that `records` runs.

Kept beside the search it feeds (`_search.py`) and the tokens it matches (`_tokens.py`),
so the parameters a node understands, how they parse and how they match live together.
"""

from __future__ import annotations

from careledger.errors import ValidationError
from careledger.records._search import PREFIXES, DateCondition, SearchQuery, TokenCondition

# Parameters this node understands (also listed in the CapabilityStatement).
SEARCH_PARAMS = {
    "_id": "token",
    "_lastUpdated": "date",
    "patient": "reference",
    "subject": "reference",
    "code": "token",
    "date": "date",
    "status": "token",
    "identifier": "token",
}
# Parameters that shape the result rather than select records (`_format` picks JSON or XML).
RESULT_PARAMS = frozenset(
    {"_count", "_offset", "_sort", "_format", "_pretty", "_summary", "_elements", "_total", "_include", "_revinclude"}
)
_TOKENS = ("code", "status", "identifier")


def search_query(
    resource_type: str, params: list[tuple[str, str]], *, patient_address: str | None
) -> tuple[SearchQuery, list[str]]:
    """The query `params` ask for, and the names of parameters this node does not know."""
    unknown: list[str] = []
    tokens: list[TokenCondition] = []
    dates: list[DateCondition] = []
    record_id = patient_id = None
    sort = "_lastUpdated"
    for name, value in params:
        if name == "_id":
            record_id = value
        elif name in ("patient", "subject"):
            reference = value.removeprefix("Patient/")
            if resource_type == "Patient":
                record_id = reference
            else:
                patient_id = reference
        elif name in _TOKENS:
            tokens.append(_token(name, value))
        elif name in ("date", "_lastUpdated"):
            dates.append(_date(name, value))
        elif name == "_sort":
            sort = value
        elif name not in RESULT_PARAMS:
            unknown.append(name)
    query = SearchQuery(
        resource_type=resource_type,
        record_id=record_id,
        patient_id=patient_id,
        patient_address=patient_address,
        tokens=tuple(tokens),
        dates=tuple(dates),
        sort=sort,
    )
    return query, unknown


def _token(name: str, value: str) -> TokenCondition:
    """`system|code`, `|code` (no system), or `code`; a comma separates alternatives of one system."""
    system: str | None = None
    if "|" in value:
        system, value = value.split("|", 1)
    values = tuple(v for v in value.split(",") if v)
    if not values:
        raise ValidationError(f"{name} needs a value")
    return TokenCondition(name, values, system)


def _date(name: str, value: str) -> DateCondition:
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    return DateCondition(name, prefix, value[2:] if value[:2] in PREFIXES else value)
