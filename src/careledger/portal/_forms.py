"""What the staff's forms write, as FHIR R4: a measurement (Observation), a note (DocumentReference), a patient.

The records service validates them like any client's resources; these builders only turn
a few form fields into the standard codes (LOINC, UCUM) a reader of the chart expects.
"""

from __future__ import annotations

import base64
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from careledger.errors import ValidationError
from careledger.fhir import concept, systems, ucum_quantity


@dataclass(frozen=True, slots=True)
class Measure:
    """What a staff member may record from the chart: its LOINC code, its words, its UCUM unit, its kind."""

    code: str
    display: str
    unit: str
    kind: str  # vital-signs or laboratory


MEASURES = {
    m.code: m
    for m in (
        Measure("8867-4", "Heart rate", "/min", "vital-signs"),
        Measure("8480-6", "Systolic blood pressure", "mm[Hg]", "vital-signs"),
        Measure("8462-4", "Diastolic blood pressure", "mm[Hg]", "vital-signs"),
        Measure("8310-5", "Body temperature", "Cel", "vital-signs"),
        Measure("29463-7", "Body weight", "kg", "vital-signs"),
        Measure("2708-6", "Oxygen saturation", "%", "vital-signs"),
        Measure("2345-7", "Glucose", "mg/dL", "laboratory"),
        Measure("4548-4", "Hemoglobin A1c", "%", "laboratory"),
    )
}


def observation(patient_id: str, code: str, value: str) -> dict[str, Any]:
    """A final Observation of `code` (one of `MEASURES`) with `value`, now, about `Patient/{patient_id}`."""
    measure = MEASURES.get(code)
    if measure is None:
        raise ValidationError(f"unknown measurement {code!r}: one of {', '.join(MEASURES)}")
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"{measure.display} is a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ValidationError(f"{measure.display} is a finite number")
    return {
        "resourceType": "Observation",
        "id": str(uuid.uuid4()),
        "status": "final",
        "category": [concept(systems.OBSERVATION_CATEGORY, measure.kind)],
        "code": concept(systems.LOINC, measure.code, measure.display),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": _now(),
        "valueQuantity": ucum_quantity(int(number) if number.is_integer() else number, measure.unit),
    }


def note(patient_id: str, text: str, *, author: str) -> dict[str, Any]:
    """A current clinical note (LOINC 11506-3, progress note) about `Patient/{patient_id}`, plain text."""
    return {
        "resourceType": "DocumentReference",
        "id": str(uuid.uuid4()),
        "status": "current",
        "type": concept(systems.LOINC, "11506-3", "Progress note"),
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": _now(),
        "author": [{"display": author}],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }


def patient_resource(*, given: str, family: str, birth_date: str, record_id: str) -> dict[str, Any]:
    """A Patient the front desk registers: her name and birth date (YYYY-MM-DD, not in the future)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", birth_date):
        raise ValidationError("the birth date is written YYYY-MM-DD")
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        raise ValidationError(f"{birth_date} is not a date") from None
    if born > datetime.now(UTC).date():
        raise ValidationError("the birth date is in the future")
    return {
        "resourceType": "Patient",
        "id": record_id,
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "birthDate": birth_date,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
