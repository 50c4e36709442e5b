"""HIPAA Safe Harbor de-identification of FHIR resources, by allow-list: what is not known to be safe is dropped.

A released resource keeps its codes, quantities, statuses and the shape that links it to
its patient's other records; it loses every one of the 18 identifier kinds:

- names, contact numbers, e-mail, URLs, photos, identifiers of every kind (MRN, SSN,
  insurance, device): not on the allow-list, so never copied;
- addresses below the state: only `state` and the first three digits of the postal code
  stay (the three digits are a quasi-identifier the k-anonymity check may remove);
- dates: every date and time is shifted by a keyed offset of the patient's (whole days,
  up to a year either way), so intervals within a patient are kept and nothing lines up
  with the calendar; a birth date becomes a ten-year age band, and every age over 89 is
  the one band `90+`;
- free text (narratives, notes, comments, CodeableConcept text, attachments): dropped, as
  no offline de-identification library is used here;
- ids: the patient becomes a study pseudonym and every record id a keyed hash, per study
  (HMAC-SHA256 under the study's key), so two studies cannot link a patient.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from careledger.records import Resource

AGE_BAND_URL = "https://careledger.org/fhir/StructureDefinition/age-band"
OLDEST_BAND = "90+"
MAX_SHIFT_DAYS = 365
# Elements a released record may keep, by what they hold; everything else is dropped.
_CODED = frozenset(
    {
        "category",
        "code",
        "class",
        "type",
        "clinicalStatus",
        "verificationStatus",
        "interpretation",
        "medicationCodeableConcept",
        "vaccineCode",
        "reasonCode",
        "valueCodeableConcept",
        "bodySite",
        "severity",
    }
)
_PLAIN = frozenset({"status", "intent", "primarySource", "criticality", "valueBoolean", "valueInteger"})
_QUANTITIES = frozenset({"valueQuantity"})
_DATES = frozenset(
    {
        "effectiveDateTime",
        "issued",
        "onsetDateTime",
        "abatementDateTime",
        "recordedDate",
        "authoredOn",
        "occurrenceDateTime",
        "performedDateTime",
        "date",
    }
)
_PERIODS = frozenset({"effectivePeriod", "period", "performedPeriod"})
_REFERENCES = frozenset({"subject", "patient", "encounter", "result", "hasMember", "derivedFrom", "basedOn"})
_RELEASED_TYPES = frozenset(
    {
        "Patient",
        "Observation",
        "Condition",
        "Encounter",
        "DiagnosticReport",
        "MedicationRequest",
        "MedicationStatement",
        "Immunization",
        "AllergyIntolerance",
        "Procedure",
    }
)
_FULL_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")


@dataclass(frozen=True, slots=True)
class QuasiIdentifiers:
    """What could single a patient out in combination: age band, sex, three-digit ZIP (None when unknown)."""

    age_band: str
    sex: str
    zip3: str | None


class Deidentifier:
    """One study's de-identification: its key makes the pseudonyms and date shifts, `today` the ages."""

    def __init__(self, study_key: bytes, *, today: date) -> None:
        if len(study_key) < 16:
            raise ValueError("a study key is at least 16 random bytes")
        self._key = study_key
        self._today = today

    def pseudonym(self, source_id: str) -> str:
        """The study's name for a patient or record id: a keyed hash, the same within the study only."""
        return hmac.new(self._key, b"id:" + source_id.encode(), hashlib.sha256).hexdigest()[:32]

    def shift_days(self, patient_id: str) -> int:
        """The patient's date shift in days, in [-MAX_SHIFT_DAYS, MAX_SHIFT_DAYS], from the study's key."""
        digest = hmac.new(self._key, b"shift:" + patient_id.encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") % (2 * MAX_SHIFT_DAYS + 1) - MAX_SHIFT_DAYS

    def patient(self, resource: Resource) -> tuple[Resource, QuasiIdentifiers]:
        """A Patient as released: pseudonym, sex, age band, state and three-digit ZIP; and its quasi-identifiers."""
        band = self.age_band(resource.get("birthDate"))
        released: Resource = {
            "resourceType": "Patient",
            "id": self.pseudonym(str(resource.get("id", ""))),
            "extension": [{"url": AGE_BAND_URL, "valueString": band}],
        }
        sex = str(resource.get("gender", "unknown"))
        released["gender"] = sex
        zip3 = None
        addresses = resource.get("address") or []
        if addresses and isinstance(addresses[0], dict):
            kept = {}
            if isinstance(addresses[0].get("state"), str):
                kept["state"] = addresses[0]["state"]
            postal = str(addresses[0].get("postalCode", ""))
            if re.fullmatch(r"\d{5}(-\d{4})?", postal):
                zip3 = postal[:3]
                kept["postalCode"] = zip3
            if kept:
                released["address"] = [kept]
        return released, QuasiIdentifiers(band, sex, zip3)

    def age_band(self, birth_date: Any) -> str:
        """A ten-year band of the age today ('40-49'), every age over 89 as '90+', 'unknown' without a birth year."""
        if not isinstance(birth_date, str) or not re.match(r"^\d{4}", birth_date):
            return "unknown"
        born = int(birth_date[:4])
        age = self._today.year - born
        if age > 89:
            return OLDEST_BAND
        low = max(0, age) // 10 * 10
        return f"{low}-{low + 9}"

    def record(self, resource: Resource, patient_id: str) -> Resource | None:
        """A clinical record as released for the patient `patient_id`, or None if its type is not released."""
        resource_type = resource.get("resourceType")
        if resource_type not in _RELEASED_TYPES or resource_type == "Patient":
            return None
        shift = self.shift_days(patient_id)
        released: Resource = {"resourceType": resource_type, "id": self.pseudonym(str(resource.get("id", "")))}
        for name, value in resource.items():
            kept = self._element(name, value, shift)
            if kept is not None:
                released[name] = kept
        return released

    def _element(self, name: str, value: Any, shift: int) -> Any:
        if name in _CODED:
            return _coded(value)
        if name in _PLAIN:
            return value if isinstance(value, str | bool | int) else None
        if name in _QUANTITIES:
            return _quantity(value)
        if name in _DATES:
            return shift_date(value, shift)
        if name in _PERIODS and isinstance(value, dict):
            period = {k: shift_date(value[k], shift) for k in ("start", "end") if k in value}
            return {k: v for k, v in period.items() if v is not None} or None
        if name in _REFERENCES:
            return self._reference(value)
        if name == "component" and isinstance(value, list):
            parts = [(_coded(c.get("code")), _quantity(c.get("valueQuantity"))) for c in value if isinstance(c, dict)]
            return [{"code": code, "valueQuantity": quantity} for code, quantity in parts if code and quantity] or None
        return None

    def _reference(self, value: Any) -> Any:
        if isinstance(value, list):
            kept = [self._reference(v) for v in value]
            return [v for v in kept if v is not None] or None
        if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
            return None
        kind, _, source_id = value["reference"].partition("/")
        if kind not in _RELEASED_TYPES or not source_id:
            return None
        return {"reference": f"{kind}/{self.pseudonym(source_id)}"}


def shift_date(value: Any, days: int) -> str | None:
    """An ISO date or date-time moved by `days` (its time of day kept); a year or year-month as its year only."""
    if not isinstance(value, str):
        return None
    found = _FULL_DATE.match(value)
    if found is None:
        return value[:4] if re.match(r"^\d{4}", value) else None
    try:
        moved = date.fromisoformat(found.group(1)) + timedelta(days=days)
    except ValueError:
        return None
    return moved.isoformat() + (found.group(2) or "")


def _coded(value: Any) -> Any:
    """A CodeableConcept (or a list of them) as codings only: system, code, display; no free text."""
    if isinstance(value, list):
        kept = [_coded(v) for v in value]
        return [v for v in kept if v is not None] or None
    if not isinstance(value, dict):
        return None
    if "coding" not in value and "code" in value and "system" in value:  # a Coding (Encounter.class)
        return {k: value[k] for k in ("system", "code", "display") if isinstance(value.get(k), str)}
    codings = [
        {k: c[k] for k in ("system", "code", "display") if isinstance(c.get(k), str)}
        for c in value.get("coding", [])
        if isinstance(c, dict) and c.get("code")
    ]
    return {"coding": codings} if codings else None


def _quantity(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("value"), int | float):
        return None
    return {k: value[k] for k in ("value", "unit", "system", "code") if k in value}
