"""A trial's definition as a FHIR R4 ResearchStudy (split from `_protocol`, which reads and checks the definition):
its phase, arms, sites, target, the version's protocol and consent hashes, and the eligibility criteria as the
characteristics of a contained definitional Group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from careledger.fhir import systems
from careledger.records import Resource
from careledger.research import protocol_hash
from careledger.trials._eligibility import GENDER_SYSTEM, Criterion
from careledger.trials._protocol import (
    PROTOCOL_VERSION_EXTENSION,
    SITE_SYSTEM,
    TrialProtocol,
    consent_hash,
    protocol_document,
)

PHASE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-phase"
TRIAL_SYSTEM = "urn:careledger:trial"  # a ResearchStudy's identifier: the trial id on the Trials contract
PROTOCOL_HASH_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-protocol-hash"
CONSENT_HASH_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-consent-hash"
TARGET_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-target-enrolment"
ARM_RATIO_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-arm-ratio"
WITHIN_DAYS_EXTENSION = "https://careledger.org/fhir/StructureDefinition/trial-criterion-within-days"
AGE = ("30525-0", "Age")  # LOINC
SEX = ("46098-0", "Sex")  # LOINC


def research_study(protocol: TrialProtocol, trial_id: int, version: int, *, status: str = "active") -> Resource:
    """The trial as a FHIR R4 ResearchStudy: identified by its trial id, with its phase, arms, sites, target and
    the protocol and consent hashes of `version`; the criteria are a contained Group it enrols from (`exclude`
    true for exclusions). `status` is R4's (in-review while the board has not approved, then active, …)."""
    return {
        "resourceType": "ResearchStudy",
        "contained": [_criteria_group(protocol.criteria)],
        "extension": [
            {"url": PROTOCOL_HASH_EXTENSION, "valueString": "0x" + protocol_hash(protocol_document(protocol)).hex()},
            {"url": CONSENT_HASH_EXTENSION, "valueString": "0x" + consent_hash(protocol).hex()},
            {"url": PROTOCOL_VERSION_EXTENSION, "valuePositiveInt": version},
            {"url": TARGET_EXTENSION, "valuePositiveInt": protocol.target},
        ],
        "identifier": [{"system": TRIAL_SYSTEM, "value": str(trial_id)}],
        "title": protocol.title,
        "status": status,
        "phase": {"coding": [{"system": PHASE_SYSTEM, "code": protocol.phase}]},
        **_studied(protocol.criteria),
        "description": protocol.description,
        "enrollment": [{"reference": "#criteria"}],
        "site": [{"identifier": {"system": SITE_SYSTEM, "value": site}} for site in protocol.sites],
        "arm": [
            {
                "extension": [{"url": ARM_RATIO_EXTENSION, "valuePositiveInt": arm.ratio}],
                "name": arm.code,
                "description": arm.name,
            }
            for arm in protocol.arms
        ],
    }


def _studied(criteria: Sequence[Criterion]) -> dict[str, Any]:
    """The conditions studied (those inclusion criteria require), as ResearchStudy.condition, if any."""
    studied = [c for c in criteria if c.kind == "inclusion" and c.what == "condition"]
    return {"condition": [_concept(c.system, c.codes, c.display) for c in studied]} if studied else {}


def _criteria_group(criteria: Sequence[Criterion]) -> Resource:
    """The eligibility criteria as a definitional Group's characteristics."""
    group: Resource = {"resourceType": "Group", "id": "criteria", "type": "person", "actual": False}
    if criteria:
        group["characteristic"] = [_characteristic(c) for c in criteria]
    return group


def _characteristic(criterion: Criterion) -> dict[str, Any]:
    found: dict[str, Any] = {"exclude": criterion.kind == "exclusion"}
    if criterion.what in ("condition", "medication"):
        found["code"] = {"text": criterion.what}
        found["valueCodeableConcept"] = _concept(criterion.system, criterion.codes, criterion.display)
    elif criterion.what == "sex":
        found["code"] = _concept(systems.LOINC, (SEX[0],), SEX[1])
        found["valueCodeableConcept"] = _concept(GENDER_SYSTEM, criterion.codes, criterion.display)
    else:
        code, unit = (AGE, "a") if criterion.what == "age" else (None, criterion.unit or "1")
        found["code"] = (
            _concept(systems.LOINC, (code[0],), code[1])
            if code
            else _concept(criterion.system, criterion.codes, criterion.display)
        )
        quantity: dict[str, Any] = {"value": criterion.value, "unit": unit, "system": systems.UCUM, "code": unit}
        if criterion.comparator != "=":
            quantity["comparator"] = criterion.comparator
        found["valueQuantity"] = quantity
        if criterion.within_days is not None:
            found["extension"] = [{"url": WITHIN_DAYS_EXTENSION, "valuePositiveInt": criterion.within_days}]
    return found


def _concept(system: str | None, codes: Sequence[str], text: str) -> dict[str, Any]:
    """A CodeableConcept of any of `codes` (each a coding of `system`), and its words."""
    coding = [{"code": code} if system is None else {"system": system, "code": code} for code in codes]
    return {"coding": coding, "text": text}
