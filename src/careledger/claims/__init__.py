"""Insurance claims: plans, enrolment, FHIR Claim from an Encounter, on-chain adjudication and payment, EOBs.

The chain's plan types are re-exported: a face builds `PlanTerms` and reads a `Plan`
without reaching into the chain layer.
"""

from careledger.chain import SERVICE_CLASSES, ClaimStatus, Plan, PlanTerms, PreauthStatus
from careledger.claims._amounts import amount_text, from_units, to_units
from careledger.claims._classes import CDT, CPT, RXNORM, ServiceClass, classify
from careledger.claims._codes import CARC_SYSTEM, REASONS, reason_text
from careledger.claims._coverage import coverage_id
from careledger.claims._eligibility import Coverages, Estimate
from careledger.claims._fhir import (
    ClaimLine,
    Money,
    claim_lines,
    claim_response,
    disposition,
    encounter_of,
    explanation_of_benefit,
)
from careledger.claims._payers import Payers
from careledger.claims._payments import Payments
from careledger.claims._plans import CostShare, Plans, PlanView, Standing
from careledger.claims._service import ClaimOutcome, ClaimsService, claim_record_id

__all__ = [
    "CARC_SYSTEM",
    "CDT",
    "CPT",
    "REASONS",
    "RXNORM",
    "SERVICE_CLASSES",
    "ClaimLine",
    "ClaimOutcome",
    "ClaimStatus",
    "ClaimsService",
    "CostShare",
    "Coverages",
    "Estimate",
    "Money",
    "Payers",
    "Payments",
    "Plan",
    "PlanTerms",
    "PlanView",
    "Plans",
    "PreauthStatus",
    "ServiceClass",
    "Standing",
    "amount_text",
    "claim_lines",
    "claim_record_id",
    "claim_response",
    "classify",
    "coverage_id",
    "disposition",
    "encounter_of",
    "explanation_of_benefit",
    "from_units",
    "reason_text",
    "to_units",
]
