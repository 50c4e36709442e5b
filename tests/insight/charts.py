"""Charts the insight tests store or score: Goff et al. 2013's worked example (a 55-year-old White woman, total
cholesterol 213 mg/dL, HDL 50 mg/dL, systolic 120 mmHg untreated, non-smoker, no diabetes: 10-year ASCVD risk
2.1 %), as the FHIR a record holds, the lipids in mmol/L and the pressure as a panel, so the gatherer converts and
flattens them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from careledger.insight import LOINC, SNOMED

UCUM = "http://unitsofmeasure.org"
OMB_RACE = "urn:oid:2.16.840.1.113883.6.238"
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
NEVER_SMOKED = "266919005"
# The worked example's risk, to the precision Goff et al. give it.
WHITE_WOMAN_RISK = 0.021


def patient(on: date, *, mrn: str = "MRN-PCE") -> dict[str, Any]:
    """A White woman who is 55 on `on`."""
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:mrn", "value": mrn}],
        "name": [{"family": "Goff", "given": ["Example"]}],
        "gender": "female",
        "birthDate": date(on.year - 55, 1, 1).isoformat(),
        "extension": [
            {
                "url": US_CORE_RACE,
                "extension": [{"url": "ombCategory", "valueCoding": {"system": OMB_RACE, "code": "2106-3"}}],
            }
        ],
    }


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(patient_id: str, code: str, on: date, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": (on - timedelta(days=30)).isoformat(),
        **value,
    }


def records(patient_id: str, on: date, *, hdl: bool = True) -> dict[str, dict[str, Any]]:
    """Her lipids, pressure and smoking status, by name (`hdl=False`: no HDL cholesterol on file)."""
    found = {
        "total": _observation(patient_id, "2093-3", on, valueQuantity=_quantity(213 / 38.67, "mmol/L")),
        "hdl": _observation(patient_id, "2085-9", on, valueQuantity=_quantity(50, "mg/dL")),
        "pressure": _observation(
            patient_id,
            "85354-9",
            on,
            component=[
                {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": _quantity(120, "mm[Hg]")},
                {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": _quantity(78, "mm[Hg]")},
            ],
        ),
        "smoking": _observation(
            patient_id, "72166-2", on, valueCodeableConcept={"coding": [{"system": SNOMED, "code": NEVER_SMOKED}]}
        ),
    }
    if not hdl:
        del found["hdl"]
    return found
