"""FHIR OperationOutcome bodies; the HTTP status of each error is `careledger.errors.http_status`."""

from __future__ import annotations

from typing import Any


def operation_outcome(code: str, diagnostics: str, *, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one error issue of FHIR issue type `code`."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
