"""Deterministic synthetic patients with realistic FHIR R4 records.

`synthetic_patients(count, seed)` gives the same records for the same seed on every
machine: patients with encounters, vital signs and lab panels (LOINC), conditions
(SNOMED CT, some labelled sensitive), medication requests (RxNorm), immunizations (CVX),
allergies, diagnostic reports and a clinical note (DocumentReference with an
attachment). Names and identifiers are invented; codes are real.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from careledger.fhir import fhir_instant
from careledger.testdata import _codes as codes

Resource = dict[str, Any]

# The resource types every sizeable set of synthetic patients contains.
RESOURCE_TYPES = (
    "Patient",
    "Encounter",
    "Observation",
    "Condition",
    "MedicationRequest",
    "DiagnosticReport",
    "Immunization",
    "AllergyIntolerance",
    "DocumentReference",
)

# Every generated date is relative to this day, never to "today", so output is stable.
_EPOCH = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@dataclass(slots=True)
class SyntheticPatient:
    """One patient and every record about them (the Patient first)."""

    patient: Resource
    records: list[Resource] = field(default_factory=list)

    @property
    def resources(self) -> list[Resource]:
        """The Patient and every record of hers."""
        return [self.patient, *self.records]

    @property
    def id(self) -> str:
        """The Patient's id."""
        return str(self.patient["id"])


def synthetic_patients(count: int, seed: int = 0) -> list[SyntheticPatient]:
    """`count` patients, the same ones for the same `seed`."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    return [_Builder(rng).patient() for _ in range(count)]


def collection_bundle(patients: list[SyntheticPatient]) -> Resource:
    """A FHIR `collection` Bundle of every resource, as a bulk import would receive it."""
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for patient in patients for r in patient.resources]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _when(self, days_back: int) -> datetime:
        return _EPOCH - timedelta(days=days_back, minutes=self.rng.randrange(0, 8 * 60))

    def patient(self) -> SyntheticPatient:
        rng = self.rng
        gender = rng.choice(("female", "male"))
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 62))
        city, country = rng.choice(codes.CITIES)
        patient_id = self._id()
        patient: Resource = {
            "resourceType": "Patient",
            "id": patient_id,
            "identifier": [{"system": codes.MRN_SYSTEM, "value": f"MRN-{rng.randrange(10**7, 10**8)}"}],
            "name": [
                {
                    "use": "official",
                    "family": rng.choice(codes.FAMILY_NAMES),
                    "given": [rng.choice(codes.GIVEN_NAMES[gender])],
                }
            ],
            "gender": gender,
            "birthDate": birth.isoformat(),
            "address": [{"city": city, "country": country}],
            "telecom": [{"system": "phone", "value": f"+1-555-{rng.randrange(1000, 9999)}", "use": "mobile"}],
        }
        built = SyntheticPatient(patient)
        subject = {"reference": f"Patient/{patient_id}"}
        problems = rng.sample(codes.PROBLEMS, k=rng.randint(1, 3))
        for days_back in sorted(rng.sample(range(10, 900), k=rng.randint(2, 4)), reverse=True):
            self._visit(built, subject, problems, days_back)
        for problem in problems:
            built.records.extend(self._condition(subject, problem))
        for code, display in rng.sample(codes.VACCINES, k=rng.randint(1, 3)):
            built.records.append(self._immunization(subject, code, display))
        if rng.random() < 0.6:
            built.records.append(self._allergy(subject, *rng.choice(codes.ALLERGENS)))
        return built

    def _visit(self, built: SyntheticPatient, subject: Resource, problems: list[codes.Problem], days_back: int) -> None:
        rng = self.rng
        when = self._when(days_back)
        cls, cls_display, type_code, type_display = rng.choice(codes.ENCOUNTER_TYPES)
        encounter_id = self._id()
        built.records.append(
            {
                "resourceType": "Encounter",
                "id": encounter_id,
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": cls,
                    "display": cls_display,
                },
                "type": [{"coding": [{"system": codes.SNOMED, "code": type_code, "display": type_display}]}],
                "subject": subject,
                "period": {"start": _instant(when), "end": _instant(when + timedelta(minutes=rng.randint(15, 90)))},
            }
        )
        context = {"reference": f"Encounter/{encounter_id}"}
        for measure in rng.sample(codes.VITALS, k=3):
            built.records.append(self._observation(subject, context, when, "vital-signs", measure))
        built.records.append(self._blood_pressure(subject, context, when))
        (panel_code, panel_display), measures = rng.choice(list(codes.LAB_PANELS.items()))
        results = [self._observation(subject, context, when, "laboratory", m) for m in measures]
        if any(p.snomed == "44054006" for p in problems):
            results.append(self._observation(subject, context, when, "laboratory", codes.HBA1C))
        built.records.extend(results)
        built.records.append(self._report(subject, context, when, panel_code, panel_display, results))
        built.records.append(self._note(subject, context, when, type_display))
        for problem in problems:
            if problem.rxnorm and rng.random() < 0.7:
                built.records.append(self._prescription(subject, context, when, problem))

    def _observation(
        self, subject: Resource, context: Resource, when: datetime, category: str, measure: codes.Measure
    ) -> Resource:
        return {
            "resourceType": "Observation",
            "id": self._id(),
            "status": "final",
            "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": category}]}],
            "code": {"coding": [{"system": codes.LOINC, "code": measure.code, "display": measure.display}]},
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": _instant(when),
            "valueQuantity": self._quantity(measure),
        }

    def _quantity(self, measure: codes.Measure) -> Resource:
        value = round(self.rng.uniform(measure.low, measure.high), measure.decimals)
        return {
            "value": int(value) if measure.decimals == 0 else value,
            "unit": measure.unit,
            "system": codes.UCUM,
            "code": measure.unit,
        }

    def _blood_pressure(self, subject: Resource, context: Resource, when: datetime) -> Resource:
        code, display = codes.BLOOD_PRESSURE
        return {
            "resourceType": "Observation",
            "id": self._id(),
            "status": "final",
            "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": codes.LOINC, "code": code, "display": display}]},
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": _instant(when),
            "component": [
                {
                    "code": {"coding": [{"system": codes.LOINC, "code": m.code, "display": m.display}]},
                    "valueQuantity": self._quantity(m),
                }
                for m in (codes.SYSTOLIC, codes.DIASTOLIC)
            ],
        }

    def _report(
        self,
        subject: Resource,
        context: Resource,
        when: datetime,
        code: str,
        display: str,
        results: list[Resource],
    ) -> Resource:
        return {
            "resourceType": "DiagnosticReport",
            "id": self._id(),
            "status": "final",
            "category": [{"coding": [{"system": codes.DIAGNOSTIC_SERVICE, "code": "LAB", "display": "Laboratory"}]}],
            "code": {"coding": [{"system": codes.LOINC, "code": code, "display": display}]},
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": _instant(when),
            "issued": _instant(when + timedelta(hours=4)),
            "result": [{"reference": f"Observation/{r['id']}"} for r in results],
        }

    def _note(self, subject: Resource, context: Resource, when: datetime, reason: str) -> Resource:
        text = f"{reason}. Patient seen; vitals and labs reviewed; plan discussed and agreed.\n"
        return {
            "resourceType": "DocumentReference",
            "id": self._id(),
            "status": "current",
            "type": {"coding": [{"system": codes.LOINC, "code": "11506-3", "display": "Progress note"}]},
            "subject": subject,
            "date": _instant(when + timedelta(hours=1)),
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": base64.b64encode(text.encode()).decode(),
                        "title": "Progress note",
                    }
                }
            ],
            "context": {"encounter": [context]},
        }

    def _prescription(self, subject: Resource, context: Resource, when: datetime, problem: codes.Problem) -> Resource:
        return {
            "resourceType": "MedicationRequest",
            "id": self._id(),
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": codes.RXNORM, "code": problem.rxnorm, "display": problem.drug}]
            },
            "subject": subject,
            "encounter": context,
            "authoredOn": _instant(when),
            "reasonCode": [{"coding": [{"system": codes.SNOMED, "code": problem.snomed, "display": problem.display}]}],
            "dosageInstruction": [{"text": "Take one tablet by mouth daily"}],
        }

    def _condition(self, subject: Resource, problem: codes.Problem) -> list[Resource]:
        condition: Resource = {
            "resourceType": "Condition",
            "id": self._id(),
            "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": codes.SNOMED, "code": problem.snomed, "display": problem.display}]},
            "subject": subject,
            "onsetDateTime": _instant(self._when(self.rng.randrange(900, 4000))),
        }
        if problem.sensitivity:
            condition["meta"] = {"security": [{"system": codes.ACT_CODE, "code": problem.sensitivity}]}
        return [condition]

    def _immunization(self, subject: Resource, code: str, display: str) -> Resource:
        return {
            "resourceType": "Immunization",
            "id": self._id(),
            "status": "completed",
            "vaccineCode": {"coding": [{"system": codes.CVX, "code": code, "display": display}]},
            "patient": subject,
            "occurrenceDateTime": _instant(self._when(self.rng.randrange(30, 1500))),
            "primarySource": True,
        }

    def _allergy(self, subject: Resource, code: str, display: str, category: str) -> Resource:
        return {
            "resourceType": "AllergyIntolerance",
            "id": self._id(),
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
                ]
            },
            "category": [category],
            "code": {"coding": [{"system": codes.SNOMED, "code": code, "display": display}]},
            "patient": subject,
            "recordedDate": _instant(self._when(self.rng.randrange(100, 3000))),
        }


def _instant(moment: datetime) -> str:
    return fhir_instant(moment, precision="seconds")
