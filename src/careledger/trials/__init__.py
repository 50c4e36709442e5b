"""Clinical trials (DESIGN.md section 14, issue 42): a registry of trials and their protocol versions, versioned
eConsent signed per version, stratified permuted-block randomisation from a seed committed on chain before the first
enrolment, CRFs as Questionnaire/QuestionnaireResponse with anchored corrections, adverse events to sponsor and board,
milestone payments from the sponsor's escrow, and a Poisson-gamma enrolment forecast."""

from careledger.trials._randomise import allocate, allocation_commitment, new_seed, seed_commitment, stratum_of

__all__ = [
    "allocate",
    "allocation_commitment",
    "new_seed",
    "seed_commitment",
    "stratum_of",
]
