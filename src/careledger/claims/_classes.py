"""Service classes: the coarse kinds of care a plan's fee schedule and rules are written for.

On chain a class is a number 0..15 (Claims.vy); here it has a name and is derived from a
claim line's procedure code (CPT, CDT, RxNorm) or, failing that, from the Encounter's class.
"""

from __future__ import annotations

from enum import IntEnum

from careledger.errors import ValidationError
from careledger.fhir import systems

# The billing vocabularies a claim line is coded in (re-exported for callers of `careledger.claims`).
CPT, CDT, RXNORM = systems.CPT, systems.CDT, systems.RXNORM


class ServiceClass(IntEnum):
    """A plan's service classes (the bit of each in a plan's prior-authorization mask)."""

    PREVENTIVE = 0
    OFFICE_VISIT = 1
    SPECIALIST = 2
    EMERGENCY = 3
    URGENT_CARE = 4
    INPATIENT = 5
    SURGERY = 6
    LAB = 7
    IMAGING = 8
    PHARMACY = 9
    MENTAL_HEALTH = 10
    TELEHEALTH = 11
    THERAPY = 12
    MATERNITY = 13
    DENTAL = 14
    VISION = 15

    @property
    def label(self) -> str:
        """The class as people write it (office-visit)."""
        return self.name.lower().replace("_", "-")

    @property
    def bit(self) -> int:
        """The class's bit in a plan's prior-authorization mask."""
        return 1 << self.value

    @classmethod
    def parse(cls, name: str) -> ServiceClass:
        """A class from its name; `ValidationError` naming the known ones."""
        key = name.strip().upper().replace("-", "_")
        if key not in cls.__members__:
            known = ", ".join(c.label for c in cls)
            raise ValidationError(f"unknown service class {name!r} (known: {known})")
        return cls[key]

    @classmethod
    def mask(cls, classes: list[ServiceClass]) -> int:
        """The bitmask of these classes."""
        mask = 0
        for service_class in classes:
            mask |= service_class.bit
        return mask

    @classmethod
    def from_mask(cls, mask: int) -> list[ServiceClass]:
        """The classes a bitmask holds."""
        return [c for c in cls if mask & c.bit]


# CPT ranges, most specific first: (first, last, class).
_CPT_RANGES = (
    (59000, 59899, ServiceClass.MATERNITY),
    (10004, 69990, ServiceClass.SURGERY),
    (70010, 79999, ServiceClass.IMAGING),
    (80047, 89398, ServiceClass.LAB),
    (90785, 90899, ServiceClass.MENTAL_HEALTH),
    (92002, 92499, ServiceClass.VISION),
    (97010, 97799, ServiceClass.THERAPY),
    (98966, 98972, ServiceClass.TELEHEALTH),
    (99201, 99215, ServiceClass.OFFICE_VISIT),
    (99221, 99239, ServiceClass.INPATIENT),
    (99241, 99255, ServiceClass.SPECIALIST),
    (99281, 99285, ServiceClass.EMERGENCY),
    (99381, 99429, ServiceClass.PREVENTIVE),
    (99441, 99443, ServiceClass.TELEHEALTH),
)

# v3 ActCode encounter classes.
_BY_ENCOUNTER_CLASS = {
    "EMER": ServiceClass.EMERGENCY,
    "IMP": ServiceClass.INPATIENT,
    "ACUTE": ServiceClass.INPATIENT,
    "VR": ServiceClass.TELEHEALTH,
    "AMB": ServiceClass.OFFICE_VISIT,
}


def classify(system: str, code: str) -> ServiceClass:
    """The service class of one procedure or product code."""
    if system == CDT and code.upper().startswith("D"):
        return ServiceClass.DENTAL
    if system == RXNORM:
        return ServiceClass.PHARMACY
    if system == CPT and code.isdigit():
        number = int(code)
        for first, last, service_class in _CPT_RANGES:
            if first <= number <= last:
                return service_class
    if system == systems.ACT_CODE and code in _BY_ENCOUNTER_CLASS:
        return _BY_ENCOUNTER_CLASS[code]
    raise ValidationError(f"no service class for {system}|{code}: name the service class it is for")
