"""The FHIR datatypes our own writers build most: a CodeableConcept of one coding, a UCUM Quantity."""

from __future__ import annotations

from typing import Any

from careledger.fhir import systems


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding (its display only when given)."""
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return {"coding": [coding]}


def ucum_quantity(value: float, unit: str) -> dict[str, Any]:
    """A Quantity whose unit is a UCUM code, written as both `unit` and `code`."""
    return {"value": value, "unit": unit, "system": systems.UCUM, "code": unit}
