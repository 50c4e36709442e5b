"""The one mapping from CareLedger errors to HTTP status and FHIR OperationOutcome."""

from __future__ import annotations

from typing import Any

from careledger.errors import (
    AccessDenied,
    CareLedgerError,
    ChainError,
    Conflict,
    Gone,
    IntegrityError,
    InvalidResource,
    NotFound,
    PreconditionFailed,
    TooLarge,
    Unauthenticated,
    ValidationError,
)

# (status, OperationOutcome issue code), most specific class first by MRO lookup.
_STATUS: dict[type[CareLedgerError], tuple[int, str]] = {
    CareLedgerError: (500, "exception"),
    ValidationError: (400, "invalid"),
    InvalidResource: (422, "processing"),
    TooLarge: (413, "too-costly"),
    NotFound: (404, "not-found"),
    Gone: (410, "deleted"),
    AccessDenied: (403, "forbidden"),
    Unauthenticated: (401, "login"),
    Conflict: (409, "conflict"),
    PreconditionFailed: (412, "conflict"),
    IntegrityError: (500, "exception"),
    ChainError: (503, "transient"),
}


def status_for(error: CareLedgerError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500, "exception"


def operation_outcome(code: str, diagnostics: str, *, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
