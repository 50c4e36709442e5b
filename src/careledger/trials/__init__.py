"""Clinical trials (DESIGN.md section 14, issue 42): a registry of trials and their protocol versions, versioned
eConsent signed per version, stratified permuted-block randomisation from a seed committed on chain before the first
enrolment, CRFs as Questionnaire/QuestionnaireResponse with anchored corrections, adverse events to sponsor and board,
milestone payments from the sponsor's escrow, and a Poisson-gamma enrolment forecast."""

from careledger.trials._crf import Discrepancy, check_response, correction_provenance, source_check
from careledger.trials._crf import complete as crf_complete
from careledger.trials._crf import problems as crf_problems
from careledger.trials._eligibility import Criterion, Eligibility, StratumFactor, stratum_values
from careledger.trials._eligibility import check as check_eligibility
from careledger.trials._protocol import (
    Arm,
    TrialProtocol,
    Visit,
    consent_hash,
    load_protocol,
    protocol_document,
    questionnaire,
    research_study,
    visit_of,
)
from careledger.trials._randomise import allocate, allocation_commitment, new_seed, seed_commitment, stratum_of

__all__ = [
    "Arm",
    "Criterion",
    "Discrepancy",
    "Eligibility",
    "StratumFactor",
    "TrialProtocol",
    "Visit",
    "allocate",
    "allocation_commitment",
    "check_eligibility",
    "check_response",
    "consent_hash",
    "correction_provenance",
    "crf_complete",
    "crf_problems",
    "load_protocol",
    "new_seed",
    "protocol_document",
    "questionnaire",
    "research_study",
    "seed_commitment",
    "source_check",
    "stratum_of",
    "stratum_values",
    "visit_of",
]
