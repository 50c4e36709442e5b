"""FHIR Coverage and CoverageEligibilityResponse: a member's plan on chain, as views, and the request asked.

Neither is a record. Both are the Claims contract's state (the plan's terms, the member's enrolment and her
accumulators) joined with the id of her Patient record here: no PHI is on chain, so that id is all they say
of her. Amounts are written as the EOB writes them (whole tokens, the token named by the payment-token
extension), from the chain's integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from careledger.claims._classes import ServiceClass, classify
from careledger.claims._plans import Standing
from careledger.errors import ValidationError
from careledger.fhir import account_reference, fhir_instant, systems
from careledger.identity import did_pkh
from careledger.records import parse_resource, patient_reference

Resource = dict[str, Any]

_PLAN_PART = "-plan-"  # a Coverage's id: <Patient id>-plan-<plan id>


@dataclass(frozen=True, slots=True)
class EligibilityAsk:
    """What a CoverageEligibilityRequest asks: whose plan, under which Coverage (if named), for which classes
    (none: all of them)."""

    patient_id: str
    coverage_id: str | None
    classes: tuple[ServiceClass, ...]
    request_id: str | None


def coverage_id(patient_id: str, plan_id: int) -> str:
    """The id of a member's Coverage under a plan: her Patient's id and the plan's."""
    return f"{patient_id}{_PLAN_PART}{plan_id}"


def coverage_patient(coverage: str) -> str | None:
    """The Patient id a Coverage id names; None if it is no Coverage id of ours."""
    patient_id, part, plan = coverage.rpartition(_PLAN_PART)
    return patient_id if part and patient_id and plan.isdigit() else None


def coverage_resource(patient_id: str, standing: Standing, *, chain_id: int) -> Resource:
    """A member's Coverage: her plan on chain (its insurer the payor, its id the class), for her enrolment."""
    plan = standing.plan.plan
    return {
        "resourceType": "Coverage",
        "id": coverage_id(patient_id, plan.plan_id),
        **standing.plan.money.extension(),
        "identifier": [{"system": f"{systems.PLAN}:{chain_id}", "value": str(plan.plan_id)}],
        "status": "active",
        "beneficiary": {"reference": f"Patient/{patient_id}"},
        "period": _period(standing),
        "payor": [account_reference(did_pkh(chain_id, plan.insurer))],
        "class": [
            {
                "type": {"coding": [{"system": systems.COVERAGE_CLASS, "code": "plan"}]},
                "value": str(plan.plan_id),
                "name": f"plan {plan.plan_id}",
            }
        ],
    }


def eligibility_ask(body: Resource) -> EligibilityAsk:
    """The question a CoverageEligibilityRequest asks, validated; `ValidationError` for one this node cannot
    answer (another resource, no Patient here named, a Coverage reference that is not one, an item of no known
    service class), `InvalidResource` for one FHIR refuses."""
    if body.get("resourceType") != "CoverageEligibilityRequest":
        raise ValidationError(f"the body is a {body.get('resourceType')}, not a CoverageEligibilityRequest")
    request = parse_resource(body)
    patient_id = patient_reference({"resourceType": "Coverage", "beneficiary": request.get("patient", {})})
    if patient_id is None:
        raise ValidationError("CoverageEligibilityRequest.patient must reference a Patient here (Patient/<id>)")
    coverages = [str(i.get("coverage", {}).get("reference", "")) for i in request.get("insurance", [])]
    if any(not c.startswith("Coverage/") for c in coverages) or len(coverages) > 1:
        raise ValidationError("CoverageEligibilityRequest.insurance names at most one Coverage, as Coverage/<id>")
    classes = tuple(dict.fromkeys(_class_of(item, index) for index, item in enumerate(request.get("item", []))))
    coverage = coverages[0].removeprefix("Coverage/") if coverages else None
    return EligibilityAsk(patient_id, coverage, classes, request.get("id"))


def eligibility_response(
    ask: EligibilityAsk, patient_id: str, standing: Standing, *, chain_id: int, created: datetime, chain_time: int
) -> Resource:
    """The plan's answer, from the chain: for each class asked (or all), covered or not, its allowed amount,
    coinsurance and prior authorization, and the member's deductible and out-of-pocket maximum, met and left.
    In force is judged at `chain_time` (the latest block's), as the contract judges a claim's coverage."""
    plan = standing.plan.plan
    inforce = standing.in_force(chain_time)
    left = max(plan.terms.deductible - standing.deductible_met, 0)
    covered = ", ".join(c.label for c in ServiceClass if plan.terms.allowed[c]) or "nothing"
    return {
        "resourceType": "CoverageEligibilityResponse",
        **standing.plan.money.extension(),
        "status": "active",
        "purpose": ["benefits"],
        "patient": {"reference": f"Patient/{patient_id}"},
        "created": fhir_instant(created, precision="seconds"),
        "request": (
            {"reference": f"CoverageEligibilityRequest/{ask.request_id}"}
            if ask.request_id
            else {"display": "the CoverageEligibilityRequest posted to $submit"}
        ),
        "outcome": "complete",
        "disposition": (
            f"Plan {plan.plan_id} {'is' if inforce else 'is not'} in force; it covers {covered}; "
            f"{standing.amount(left)} of the {standing.amount(plan.terms.deductible)} deductible left"
        ),
        "insurer": account_reference(did_pkh(chain_id, plan.insurer)),
        "insurance": [
            {
                "coverage": {"reference": f"Coverage/{coverage_id(patient_id, plan.plan_id)}"},
                "inforce": inforce,
                "benefitPeriod": _period(standing),
                "item": [_item(c, standing) for c in ask.classes or tuple(ServiceClass)],
            }
        ],
    }


def _class_of(item: Resource, index: int) -> ServiceClass:
    """An item's service class: its category in our system, or that of the code it names."""
    for coding in item.get("category", {}).get("coding", []):
        if coding.get("system") == systems.SERVICE_CLASS:
            return ServiceClass.parse(str(coding.get("code", "")))
    for coding in item.get("productOrService", {}).get("coding", []):
        try:
            return classify(str(coding.get("system", "")), str(coding.get("code", "")))
        except ValidationError as unknown:
            raise ValidationError(
                f"CoverageEligibilityRequest.item[{index}]: {unknown}; give it a category of {systems.SERVICE_CLASS}"
            ) from None
    raise ValidationError(
        f"CoverageEligibilityRequest.item[{index}] needs a category of {systems.SERVICE_CLASS} or a coded"
        " productOrService"
    )


def _item(service_class: ServiceClass, standing: Standing) -> Resource:
    terms, money = standing.plan.plan.terms, standing.plan.money
    allowed = terms.allowed[service_class]
    item: Resource = {
        "category": {"coding": [{"system": systems.SERVICE_CLASS, "code": service_class.label}]},
        "excluded": not allowed,
        "authorizationRequired": bool(terms.preauth_classes & service_class.bit),
    }
    if not allowed:
        return item
    percent = Decimal(terms.coinsurance_bps) / 100
    coinsurance = {"allowedUnsignedInt": int(percent)} if percent == int(percent) else {"allowedString": f"{percent}"}
    item["benefit"] = [
        {"type": _benefit("benefit"), "allowedMoney": money(allowed)},
        {"type": _benefit("copay-percent"), **coinsurance},
        _used("deductible", terms.deductible, standing.deductible_met, standing),
        _used("copay-maximum", terms.oop_max, standing.out_of_pocket, standing),
    ]
    return item


def _used(kind: str, allowed: int, used: int, standing: Standing) -> Resource:
    """A benefit the member uses up in her plan year: allowed, used, and (an extension) what is left."""
    money = standing.plan.money
    left = {"url": systems.BENEFIT_REMAINING_EXTENSION, "valueMoney": money(max(allowed - used, 0))}
    return {"extension": [left], "type": _benefit(kind), "allowedMoney": money(allowed), "usedMoney": money(used)}


def _benefit(code: str) -> Resource:
    return {"coding": [{"system": systems.BENEFIT_TYPE, "code": code}]}


def _period(standing: Standing) -> Resource:
    return {
        "start": fhir_instant(standing.start, precision="seconds"),
        "end": fhir_instant(standing.end, precision="seconds"),
    }
