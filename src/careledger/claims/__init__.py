"""Insurance claims: FHIR Claim from an Encounter, on-chain adjudication and payment, EOBs."""

from careledger.claims._amounts import from_units, to_units
from careledger.claims._classes import CDT, CPT, RXNORM, ServiceClass, classify
from careledger.claims._codes import CARC_SYSTEM, REASONS, reason_text
from careledger.claims._fhir import ClaimLine, Money, claim_response, disposition, explanation_of_benefit
from careledger.claims._service import ClaimOutcome, ClaimsService, claim_record_id, plan_of

__all__ = [
    "CARC_SYSTEM",
    "CDT",
    "CPT",
    "REASONS",
    "RXNORM",
    "ClaimLine",
    "ClaimOutcome",
    "ClaimsService",
    "Money",
    "ServiceClass",
    "claim_record_id",
    "claim_response",
    "classify",
    "disposition",
    "explanation_of_benefit",
    "from_units",
    "plan_of",
    "reason_text",
    "to_units",
]
