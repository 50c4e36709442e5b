"""Facts from a patient's FHIR R4 resources: what scores read, each value in the unit they expect, nothing guessed.

    Patient ───────────────► birth date, sex, US Core race (OMB categories)
    Observation (final) ───► measurements by code (BP panel components flattened; converted by UCUM code)
                    └──────► answers (valueCodeableConcept: smoking status, ACVPU, ...)
    Condition (active) ────► conditions          FamilyMemberHistory ──► answers (relationship, conditions)
    Medication* (active) ──► medications         AllergyIntolerance ───► allergies

`gather` reads them through the caller's guarded repository (the door decides and audits each read); a CDS
client's prefetch goes straight to `facts_from_resources`. A quantity in a unit the table below does not know for
its code, or whose value is no finite number (10**400 is valid JSON), is skipped, never converted by guess, and
kept in `Facts.unread` so a score can say why it has no value; a code the table does not name is kept in the unit
it came in. UCUM is case-sensitive, but clinical systems commonly send a few case variants (mg/dl, mmol/l, µmol/L):
`UNIT_ALIASES` reads those, and nothing wider.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from operator import attrgetter
from typing import Any

from careledger.access import Repository
from careledger.errors import AccessDenied, NotFound
from careledger.fhir.systems import UCUM
from careledger.insight._model import LOINC, Code, Facts, Finding, Measurement, Sex, Unread
from careledger.insight.scores._reading import CREATININE_UMOL_L_PER_MG_DL
from careledger.records import Resource, SearchQuery

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
# What `gather` searches of the compartment (the Patient is in her own compartment: one search reads all).
GATHERED = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
    "FamilyMemberHistory",
)
# Observations whose value is a result: not registered or preliminary, cancelled or entered in error.
RESULT_STATUSES = frozenset({"final", "amended", "corrected"})
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
REFUTED = frozenset({"entered-in-error", "refuted"})
# A diagnosis still being worked out (a note's "possible pneumonia" drafted provisional) is not yet a risk factor;
# an allergy is warned of however sure it is, so only REFUTED drops one.
UNSETTLED = REFUTED | {"unconfirmed", "provisional", "differential"}


@dataclass(frozen=True, slots=True)
class Unit:
    """The UCUM code scores read a kind of quantity in, and how each other UCUM code it may come in converts."""

    code: str
    conversions: Mapping[str, Callable[[float], float]]

    def convert(self, value: float, given: str) -> float | None:
        """`value` in `given` units as this unit, or None if `given` is not one this kind is known to come in."""
        if given == self.code:
            return value
        conversion = self.conversions.get(given)
        return None if conversion is None else conversion(value)


# Molar conversions: cholesterol 386.65 g/mol (x 38.67), creatinine 113.12 g/mol (/ 88.42), glucose 180.16 g/mol
# (x 18.016); HbA1c IFCC mmol/mol to NGSP % by the IFCC-NGSP master equation (Hoelzel et al., Clin Chem 2004).
CHOLESTEROL = Unit("mg/dL", {"mmol/L": lambda v: v * 38.67, "g/L": lambda v: v * 100})
CREATININE = Unit("mg/dL", {"umol/L": lambda v: v / CREATININE_UMOL_L_PER_MG_DL})
GLUCOSE = Unit("mg/dL", {"mmol/L": lambda v: v * 18.016})
HBA1C = Unit("%", {"mmol/mol": lambda v: v * 0.09148 + 2.152})
TEMPERATURE = Unit("Cel", {"[degF]": lambda v: (v - 32) * 5 / 9})
WEIGHT = Unit("kg", {"g": lambda v: v / 1000, "[lb_av]": lambda v: v * 0.45359237})
LENGTH = Unit("cm", {"m": lambda v: v * 100, "mm": lambda v: v / 10, "[in_i]": lambda v: v * 2.54})
PRESSURE = Unit("mm[Hg]", {})
RATE = Unit("/min", {"{beats}/min": float, "{breaths}/min": float})
PERCENT = Unit("%", {})
BMI = Unit("kg/m2", {})
EGFR = Unit("mL/min/{1.73_m2}", {})
ALBUMIN_CREATININE = Unit("mg/g", {"mg/mmol": lambda v: v * 8.84})
POINTS = Unit("{score}", {})
# The spellings clinical systems send for UCUM codes (l for L is even valid UCUM; µ for u is the print symbol).
UNIT_ALIASES: Mapping[str, str] = {
    "mg/dl": "mg/dL",
    "g/l": "g/L",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "µmol/L": "umol/L",
    "µmol/l": "umol/L",
    "μmol/L": "umol/L",  # Greek small mu, which some systems send for the micro sign
    "μmol/l": "umol/L",
}
# LOINC codes of the quantities scores read, and their unit.
UNITS: Mapping[str, Unit] = {
    **dict.fromkeys(("2093-3", "2085-9", "18262-6", "13457-7", "2089-1"), CHOLESTEROL),
    **dict.fromkeys(("2160-0", "38483-4"), CREATININE),
    **dict.fromkeys(("2339-0", "2345-7", "1558-6"), GLUCOSE),
    **dict.fromkeys(("4548-4", "17856-6"), HBA1C),
    **dict.fromkeys(("8310-5", "8331-1"), TEMPERATURE),
    **dict.fromkeys(("29463-7", "3141-9"), WEIGHT),
    **dict.fromkeys(("8302-2", "8306-3", "8280-0"), LENGTH),
    **dict.fromkeys(("8480-6", "8462-4"), PRESSURE),
    **dict.fromkeys(("8867-4", "9279-1"), RATE),
    **dict.fromkeys(("59408-5", "2708-6", "2710-2", "3150-0"), PERCENT),
    "39156-5": BMI,
    **dict.fromkeys(("98979-8", "62238-1", "33914-3", "48642-3", "48643-1"), EGFR),
    **dict.fromkeys(("9318-7", "14959-1"), ALBUMIN_CREATININE),
    "9269-2": POINTS,
}
# The kinds read below; any other resource is passed over before its reference is even written.
_READ = frozenset(
    {
        "Observation",
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "AllergyIntolerance",
        "FamilyMemberHistory",
    }
)
_WHEN = attrgetter("when")
_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MEDICATION = re.compile(r"Medication/[A-Za-z0-9\-.]{1,64}")  # a local reference by FHIR id: what `read` takes


def facts_from_resources(patient: Resource, resources: Iterable[Resource], on: date) -> Facts:
    """The facts of `patient` (a Patient resource) as of `on`, from `resources` (hers; any others are ignored).

    A measurement needs a full effective date and no `comparator` ("<5" is not a number); those after `on` and
    results not final are left out. A MedicationReference is resolved against contained and given Medications.
    """
    measured: defaultdict[tuple[str, str], list[Measurement]] = defaultdict(list)  # by (system, code): hashed in C
    unread: list[Unread] = []
    intolerances: set[str] = set()
    found: dict[str, list[Finding]] = defaultdict(list)
    given = list(resources)
    medications = {f"Medication/{r.get('id')}": r for r in given if r.get("resourceType") == "Medication"}
    for resource in given:
        kind = resource.get("resourceType")
        if kind not in _READ:
            continue
        source = f"{kind}/{resource.get('id')}"
        if kind == "Observation":
            _observation(resource, source, on, measured, unread, found["answers"])
        elif kind == "Condition" and _active(resource, UNSETTLED, missing_counts=False) and not _after(resource, on):
            found["conditions"] += _findings(resource.get("code"), source, _onset(resource))
        elif kind in ("MedicationStatement", "MedicationRequest") and resource.get("status") == "active":
            concept = resource.get("medicationCodeableConcept") or _medication(resource, medications)
            found["medications"] += _findings(concept, source, _day(_first(resource, "authoredOn", "dateAsserted")))
        elif kind == "AllergyIntolerance" and _active(resource, REFUTED, missing_counts=True):
            found["allergies"] += _findings(resource.get("code"), source, _onset(resource))
            if resource.get("type") == "intolerance" or resource.get("criticality") == "low":
                intolerances.add(source)
        elif kind == "FamilyMemberHistory" and resource.get("status") != "entered-in-error":
            # each condition's code, and the relative (v3-RoleCode) beside them: FINDRISC's points depend on who
            conditions = [c.get("code") for c in _dicts(resource.get("condition"))]
            for concept in [resource.get("relationship"), *conditions] if conditions else []:
                found["answers"] += _findings(concept, source, _day(resource.get("date")))
    return Facts(
        patient=str(patient.get("id")),
        on=on,
        birth_date=_day(patient.get("birthDate")),
        sex=_sex(patient.get("gender")),
        measurements={_code(*key): tuple(sorted(ms, key=_WHEN, reverse=True)) for key, ms in measured.items()},
        conditions=tuple(found["conditions"]),
        medications=tuple(found["medications"]),
        allergies=tuple(found["allergies"]),
        answers=tuple(found["answers"]),
        race=_race(patient),
        unread=tuple(sorted(unread, key=_WHEN, reverse=True)),
        intolerances=frozenset(intolerances),
    )


def gather(repository: Repository, patient_id: str, on: date) -> Facts:
    """The facts of Patient `patient_id` as of `on`, read through `repository` (a caller's door: what she may not
    see is not there); `NotFound` if she may not see the Patient, told as an unknown one is."""
    found = repository.search(SearchQuery(patient_id=patient_id, resource_types=GATHERED))
    patient = next((r for r in found if r["resourceType"] == "Patient" and r.get("id") == patient_id), None)
    if patient is None:
        raise NotFound(f"no Patient/{patient_id[:64]} this caller may see")  # an id has at most 64 characters
    named = {
        reference
        for r in found
        if r["resourceType"] in ("MedicationStatement", "MedicationRequest")
        for reference in [_reference(r.get("medicationReference"))]
        if _MEDICATION.fullmatch(reference)
    }
    return facts_from_resources(patient, [*found, *_readable(repository, named)], on)


def _readable(repository: Repository, references: Iterable[str]) -> list[Resource]:
    """The Medications named that the caller may read (a refused or unknown one is simply not known)."""
    medications = []
    for reference in sorted(references):
        try:
            medications.append(repository.read(reference.removeprefix("Medication/")))
        except (NotFound, AccessDenied):
            continue
    return [m for m in medications if m.get("resourceType") == "Medication"]


def _observation(
    resource: Resource,
    source: str,
    on: date,
    measured: defaultdict[tuple[str, str], list[Measurement]],
    unread: list[Unread],
    answers: list[Finding],
) -> None:
    """A result's quantities (its own and its components', each under its own codes; those it cannot read into
    `unread`) and coded answers."""
    if resource.get("status") not in RESULT_STATUSES:
        return
    when = _day(_first(resource, "effectiveDateTime", "effectiveInstant", "effectivePeriod", "issued"))
    if when is None or when > on:
        return
    components = resource.get("component")
    for part in [resource, *_dicts(components)] if components is not None else (resource,):
        concept = part.get("valueCodeableConcept")
        if concept is not None:
            answers += _findings(concept, source, when)
        quantity = part.get("valueQuantity")
        if not isinstance(quantity, dict) or "comparator" in quantity:
            continue
        for coding in _codings(part.get("code")):
            code = _code(*coding)
            measurement = _measurement(code, quantity, when, source)
            if isinstance(measurement, Measurement):
                measured[coding].append(measurement)
            elif measurement is not None:
                unread.append(Unread(code, measurement, when, source))


def _measurement(code: Code, quantity: dict[str, Any], when: date, source: str) -> Measurement | str | None:
    """`quantity` as `code`'s unit (by its UCUM code, or its unit text when no system is named); why not, when it
    is a value this node cannot read; None when it is no quantity at all (no value)."""
    value = quantity.get("value")
    system = quantity.get("system")
    # a UCUM code; with no system named, the code or else the unit text
    given = quantity.get("code", quantity.get("unit")) if system is None else quantity.get("code")
    if value is None:
        return None
    number = finite_number(value)
    if number is None:
        return "its value is not a finite number"
    if not isinstance(given, str):
        return "no unit"
    if system not in (UCUM, None):
        return f"unit {given[:40]!r} not in UCUM"
    unit = UNITS.get(code.code) if code.system == LOINC else None
    if unit is None:
        return Measurement(code, number, given, when, source)
    if number < 0:
        return "its value is negative"  # no quantity a score reads can be below zero
    converted = unit.convert(number, UNIT_ALIASES.get(given, given))
    if converted is None or not math.isfinite(converted):
        return f"unit {given[:40]!r} not understood"
    return Measurement(code, converted, unit.code, when, source)


def finite_number(value: object) -> float | None:
    """A JSON number as a float when it is one and finite; None for anything else, a bool, NaN, an infinity, or an
    integer too large for a float (JSON allows 10**400, and `float` of it raises OverflowError)."""
    if type(value) is float:  # what JSON numbers mostly are: the checks below are for the rest
        return value if math.isfinite(value) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _active(resource: Resource, dropped: frozenset[str], *, missing_counts: bool) -> bool:
    """Whether a Condition or AllergyIntolerance holds: its clinical status active (or, if `missing_counts`, not
    given: an allergy without one still warns), and its verification status none of `dropped`."""
    if {c.code for c in _codes(resource.get("verificationStatus"))} & dropped:
        return False
    status = {c.code for c in _codes(resource.get("clinicalStatus"))}
    return bool(status & ACTIVE_CLINICAL) or (missing_counts and not status)


def _after(resource: Resource, on: date) -> bool:
    """Whether a Condition began after `on` (not yet a fact then)."""
    onset = _onset(resource)
    return onset is not None and onset > on


def _onset(resource: Resource) -> date | None:
    return _day(_first(resource, "onsetDateTime", "onsetPeriod", "recordedDate"))


def _medication(resource: Resource, medications: Mapping[str, Resource]) -> dict[str, Any] | None:
    """The code of the Medication a MedicationReference names: contained (`#id`) or among the given resources."""
    reference = _reference(resource.get("medicationReference"))
    if reference.startswith("#"):
        contained = {f"#{c.get('id')}": c for c in _dicts(resource.get("contained"))}
        found = contained.get(reference)
    else:
        found = medications.get(reference)
    code = found.get("code") if found is not None and found.get("resourceType") == "Medication" else None
    return code if isinstance(code, dict) else None


def _findings(concept: object, source: str, when: date | None) -> list[Finding]:
    return [Finding(code, source, when) for code in _codes(concept)]


def _codes(concept: object) -> list[Code]:
    """The codings of a CodeableConcept that name both a system and a code."""
    return [_code(system, code) for system, code in _codings(concept)]


def _codings(concept: object) -> list[tuple[str, str]]:
    """`_codes` as (system, code) pairs: a pair is hashed in C, a Code by its dataclass's Python `__hash__`."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return []
    found = []
    for coding in codings:
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                found.append((system, code))
    return found


@lru_cache(maxsize=4096)
def _code(system: str, code: str) -> Code:
    """One Code per coding seen lately: a record names the same few hundred codes over and over, and a Code is
    immutable, so sharing one is making it again without the cost (bounded: a stranger's codes cannot grow it)."""
    return Code(system, code)


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _reference(value: object) -> str:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else ""


def _first(resource: Resource, *names: str) -> object:
    """The first of `names` the resource has (a Period stands for its start)."""
    for name in names:
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start")
        if value is not None:
            return value
    return None


def _day(value: object) -> date | None:
    """The calendar date of a FHIR date or dateTime, or None if it is partial (a year, a month) or malformed: a
    look-back cannot tell whether "2024" is within a year of today."""
    return _day_of(value) if isinstance(value, str) else None


@lru_cache(maxsize=64)
def _day_of(value: str) -> date | None:
    """`_day` of a string, remembered for the few dates a chart repeats (an encounter's observations share one)."""
    if len(value) >= 10 and value[4] == "-" and value[7] == "-" and value[:10].isascii():
        try:  # the common case, parsed in C; anything it refuses is read the slow way below
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    matched = _FULL_DATE.match(value)
    if matched is None:
        return None
    try:
        return date(*(int(part) for part in matched.groups()))
    except ValueError:
        return None


def _sex(gender: object) -> Sex | None:
    """Administrative gender as the equations' sex: "other" and "unknown" are none of theirs."""
    return "female" if gender == "female" else "male" if gender == "male" else None


def _race(patient: Resource) -> tuple[Code, ...]:
    """The OMB categories of the US Core race extension."""
    return tuple(
        Code(coding["system"], coding["code"])
        for extension in _dicts(patient.get("extension"))
        if extension.get("url") == US_CORE_RACE
        for part in _dicts(extension.get("extension"))
        if part.get("url") == "ombCategory"
        for coding in [part.get("valueCoding")]
        if isinstance(coding, dict) and isinstance(coding.get("system"), str) and isinstance(coding.get("code"), str)
    )
