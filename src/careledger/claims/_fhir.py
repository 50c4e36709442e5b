"""FHIR R4 Claim, ClaimResponse and ExplanationOfBenefit, the off-chain face of a claim.

The Claim is written by the provider from an Encounter and its coded lines; its salted
commitment is what goes on chain. ClaimResponse (for the provider) and
ExplanationOfBenefit (for the patient) are written from the chain's adjudication, so what
they say is what the contract decided. Amounts are in whole units of the plan's token,
named by an extension, because a token symbol is not an ISO 4217 currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_utils import is_address, to_checksum_address

from careledger.chain import Adjudication, ClaimStatus
from careledger.claims._amounts import from_units, to_units
from careledger.claims._classes import ServiceClass
from careledger.claims._codes import CARC_SYSTEM, COINSURANCE, DEDUCTIBLE, OVER_FEE_SCHEDULE, REASONS
from careledger.errors import ValidationError
from careledger.fhir import account_reference, fhir_instant, systems

# A Claim's ClaimResponse and EOB are named after it, so following it needs neither opened.
RESPONSE_SUFFIX = "-response"
EOB_SUFFIX = "-eob"

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One billed service: a procedure or product code and its charge in base units."""

    system: str
    code: str
    charge: int
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Money:
    """How amounts are written: the plan token's decimals and who it is."""

    decimals: int
    token: str
    symbol: str

    def __call__(self, units: int) -> dict[str, Any]:
        value: Decimal = from_units(units, self.decimals)
        return {"value": int(value) if value == value.to_integral_value() else float(value)}

    def extension(self) -> dict[str, Any]:
        """The resource's `extension` naming the token (nothing when there is no plan, hence no token)."""
        if not self.token:
            return {}
        coding = {"system": systems.TOKEN, "code": self.token, "display": self.symbol}
        return {"extension": [{"url": systems.PAYMENT_TOKEN_EXTENSION, "valueCoding": coding}]}


@dataclass(frozen=True, slots=True)
class Parties:
    """Who a claim is between, as references: the patient's record and did:pkh accounts."""

    patient: dict[str, Any]
    provider_did: str
    insurer_did: str | None
    plan_id: int
    chain_id: int

    def account(self, did: str) -> dict[str, Any]:
        """A reference to an account by its did:pkh."""
        return account_reference(did)

    def coverage(self) -> dict[str, Any]:
        """The Claim's insurance: the member's coverage under this plan."""
        return {"identifier": {"system": f"{systems.PLAN}:{self.chain_id}", "value": str(self.plan_id)}}


def build_claim(
    claim_id: str,
    encounter: Resource,
    lines: Sequence[ClaimLine],
    service_class: ServiceClass,
    parties: Parties,
    money: Money,
    *,
    created: datetime,
    preauth_id: int = 0,
) -> Resource:
    """A FHIR Claim for an Encounter's billed lines, all of one service class."""
    if not lines:
        raise ValidationError("a claim needs at least one billed line")
    service_date = encounter_date(encounter).date().isoformat()
    total = sum(line.charge for line in lines)
    claim: Resource = {
        "resourceType": "Claim",
        "id": claim_id,
        **money.extension(),
        "status": "active",
        "type": {"coding": [{"system": systems.CLAIM_TYPE, "code": "professional"}]},
        "use": "claim",
        "patient": parties.patient,
        "created": fhir_instant(created, precision="seconds"),
        "provider": parties.account(parties.provider_did),
        "priority": {"coding": [{"system": systems.PROCESS_PRIORITY, "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": parties.coverage()}],
        "item": [
            {
                "sequence": index,
                "category": {"coding": [{"system": systems.SERVICE_CLASS, "code": service_class.label}]},
                "productOrService": {"coding": [_coding(line)]},
                "servicedDate": service_date,
                "encounter": [{"reference": f"Encounter/{encounter['id']}"}],
                "net": money(line.charge),
            }
            for index, line in enumerate(lines, start=1)
        ],
        "total": money(total),
    }
    if parties.insurer_did:
        claim["insurer"] = parties.account(parties.insurer_did)
    if preauth_id:
        claim["insurance"][0]["preAuthRef"] = [str(preauth_id)]
    return claim


def claim_lines(claim: Resource, decimals: int) -> list[ClaimLine]:
    """The billed lines of a Claim a provider's system wrote: each item's coded service and its `net`, in whole
    tokens of the plan (`decimals` places)."""
    lines = []
    for item in claim.get("item", []):
        coding: dict[str, Any] = next(iter(item.get("productOrService", {}).get("coding", [])), {})
        amount = item.get("net", {}).get("value")
        if not coding.get("system") or not coding.get("code") or amount is None:
            raise ValidationError(f"Claim.item[{item.get('sequence')}] needs a coded productOrService and a net amount")
        lines.append(ClaimLine(str(coding["system"]), str(coding["code"]), to_units(str(amount), decimals)))
    if not lines:
        raise ValidationError("a Claim needs at least one item")
    return lines


def encounter_of(claim: Resource) -> str:
    """The id of the one Encounter a Claim's items name (the service they bill)."""
    found = {
        str(ref.get("reference", "")).removeprefix("Encounter/")
        for item in claim.get("item", [])
        for ref in item.get("encounter", [])
        if str(ref.get("reference", "")).startswith("Encounter/")
    }
    if len(found) != 1:
        raise ValidationError("a Claim's items must name one Encounter (Claim.item.encounter)")
    return found.pop()


def claim_response(
    claim: Resource, adjudication: Adjudication, billed: int, money: Money, *, created: datetime
) -> Resource:
    """The insurer's answer to a Claim, as the contract gave it."""
    return {
        "resourceType": "ClaimResponse",
        "id": f"{claim['id']}{RESPONSE_SUFFIX}",
        **money.extension(),
        **_shared(claim, adjudication, billed, money, created),
        "requestor": claim["provider"],
        "request": answered(claim),
    }


def explanation_of_benefit(
    claim: Resource, adjudication: Adjudication, billed: int, money: Money, *, created: datetime
) -> Resource:
    """What the patient is told: what was billed, allowed, paid by the plan and owed by them."""
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": f"{claim['id']}{EOB_SUFFIX}",
        **money.extension(),
        **_shared(claim, adjudication, billed, money, created),
        "provider": claim["provider"],
        "item": [
            {
                "sequence": 1,
                "productOrService": claim["item"][0]["productOrService"],
                "servicedDate": claim["item"][0]["servicedDate"],
                "adjudication": _adjudications(billed, adjudication, money),
            }
        ],
        "claim": answered(claim),
        "claimResponse": {"reference": f"ClaimResponse/{claim['id']}{RESPONSE_SUFFIX}"},
        "insurance": [{"focal": True, "coverage": claim["insurance"][0]["coverage"]}],
    }


def answered(claim: Resource) -> Resource:
    """The reference to the Claim an answer (ClaimResponse, EOB) is for, saying which version: a Claim corrected
    for another plan is another payer's. The reference itself stays the record's, as searches name it."""
    version = claim.get("meta", {}).get("versionId")
    return {"reference": f"Claim/{claim['id']}", **({"display": f"Claim version {version}"} if version else {})}


def claim_record_of(record_id: str, resource_type: str) -> str | None:
    """The id of the Claim a claim's record is or answers (its ClaimResponse and EOB are named after it); None
    for any other record."""
    suffix = {"Claim": "", "ClaimResponse": RESPONSE_SUFFIX, "ExplanationOfBenefit": EOB_SUFFIX}.get(resource_type)
    if suffix is None or not record_id.endswith(suffix):
        return None
    return record_id.removesuffix(suffix) if suffix else record_id


def account_address(reference: Resource) -> str:
    """The address of a did:pkh account reference (a Claim's provider); `ValidationError` if it names none."""
    did = str(reference.get("identifier", {}).get("value", ""))
    address = did.rsplit(":", 1)[-1]
    if not did.startswith("did:pkh:") or not is_address(address):
        raise ValidationError(f"not a did:pkh account: {did!r}")
    return str(to_checksum_address(address))


def encounter_date(encounter: Resource) -> datetime:
    """When the Encounter's service was given (the start of its period)."""
    start = encounter.get("period", {}).get("start")
    if not start:
        raise ValidationError(f"Encounter/{encounter.get('id')} has no period.start: no service date to claim")
    moment = datetime.fromisoformat(start)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shared(claim: Resource, adjudication: Adjudication, billed: int, money: Money, created: datetime) -> Resource:
    outcome = "queued" if adjudication.status in _OPEN else "complete"
    body: Resource = {
        "status": "active",
        "type": claim["type"],
        "use": "claim",
        "patient": claim["patient"],
        "created": fhir_instant(created, precision="seconds"),
        "insurer": claim.get("insurer", {"display": "no plan: the member is not enrolled"}),
        "outcome": outcome,
        "disposition": disposition(adjudication),
        "item": [{"itemSequence": 1, "adjudication": _adjudications(billed, adjudication, money)}],
        "total": [
            {"category": _category(systems.ADJUDICATION, "submitted"), "amount": money(billed)},
            {"category": _category(systems.ADJUDICATION, "benefit"), "amount": money(adjudication.payer_share)},
        ],
    }
    if adjudication.status is ClaimStatus.PAID:
        body["payment"] = {
            "type": {"coding": [{"system": systems.PAYMENT_TYPE, "code": "complete"}]},
            "amount": money(adjudication.payer_share),
        }
    return body


_OPEN = frozenset({ClaimStatus.PENDED, ClaimStatus.AWAITING_FUNDS, ClaimStatus.APPEALED})


def disposition(adjudication: Adjudication) -> str:
    """One line a person reads: the decision and its reason."""
    status, reason = adjudication.status, adjudication.reason
    if status is ClaimStatus.PAID:
        return "Paid"
    if status is ClaimStatus.AWAITING_FUNDS:
        return "Approved; payment waits for the plan's escrow to be funded"
    if status is ClaimStatus.APPEALED:
        return "Appealed; waiting for the insurer's decision"
    label = "Pended" if status is ClaimStatus.PENDED else "Denied"
    return f"{label}: {reason} {REASONS.get(reason, '')}".rstrip()


def _adjudications(billed: int, adjudication: Adjudication, money: Money) -> list[Resource]:
    lines = [{"category": _category(systems.ADJUDICATION, "submitted"), "amount": money(billed)}]
    if adjudication.status not in {ClaimStatus.PAID, ClaimStatus.AWAITING_FUNDS}:
        denial = {"category": _category(systems.ADJUDICATION, "benefit"), "amount": money(0)}
        if adjudication.reason:
            denial["reason"] = _reason(adjudication.reason)
        return [*lines, denial]
    eligible: Resource = {
        "category": _category(systems.ADJUDICATION, "eligible"),
        "amount": money(adjudication.allowed),
    }
    if billed > adjudication.allowed:
        eligible["reason"] = _reason(OVER_FEE_SCHEDULE)
    return [
        *lines,
        eligible,
        {
            "category": _category(systems.ADJUDICATION, "deductible"),
            "reason": _reason(DEDUCTIBLE),
            "amount": money(adjudication.deductible),
        },
        {
            "category": _category(systems.C4BB_ADJUDICATION, "coinsurance"),
            "reason": _reason(COINSURANCE),
            "amount": money(adjudication.coinsurance),
        },
        {
            "category": _category(systems.C4BB_ADJUDICATION, "memberliability"),
            "amount": money(adjudication.patient_share),
        },
        {"category": _category(systems.ADJUDICATION, "benefit"), "amount": money(adjudication.payer_share)},
    ]


def _coding(line: ClaimLine) -> dict[str, str]:
    coding = {"system": line.system, "code": line.code}
    if line.display:
        coding["display"] = line.display
    return coding


def _category(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _reason(code: int) -> dict[str, Any]:
    coding = {"system": CARC_SYSTEM, "code": str(code)}
    if code in REASONS:
        coding["display"] = REASONS[code]
    return {"coding": [coding]}
