"""Clinical trials (DESIGN.md section 14, issue 42): a registry of trials and their protocol versions, versioned
eConsent signed per version, stratified permuted-block randomisation from a seed committed on chain before the first
enrolment, CRFs as Questionnaire/QuestionnaireResponse with anchored corrections, adverse events to sponsor and board,
milestone payments from the sponsor's escrow, and a Poisson-gamma enrolment forecast."""

from careledger.trials._adverse import ReportDelivery, ReportedAdverseEvent, adverse_event, is_serious, safety_report
from careledger.trials._consents import Consents
from careledger.trials._crf import Discrepancy, check_response, correction_provenance, source_check
from careledger.trials._crf import complete as crf_complete
from careledger.trials._crf import problems as crf_problems
from careledger.trials._econsent import (
    PARTICIPANT_SYSTEM,
    SALT_SYSTEM,
    TrialConsent,
    TrialWithdrawal,
    consent_digest,
    consent_resource,
    consent_typed_data,
    new_salt,
    participant_id,
    research_subject,
    signer_of,
    withdrawal_typed_data,
)
from careledger.trials._eligibility import Criterion, Eligibility, StratumFactor, stratum_values
from careledger.trials._eligibility import check as check_eligibility
from careledger.trials._forecast import Forecast, PoissonGamma, SiteEnrolment, forecast, sites_to_add
from careledger.trials._forecast import backtest as backtest_forecast
from careledger.trials._forecast import fit as fit_enrolment
from careledger.trials._nodes import Nodes
from careledger.trials._participant import TrialParticipantDesk
from careledger.trials._payments import Settlement
from careledger.trials._protocol import (
    Arm,
    TrialProtocol,
    Visit,
    consent_hash,
    load_protocol,
    protocol_document,
    questionnaire,
    visit_of,
)
from careledger.trials._randomise import allocate, allocation_commitment, new_seed, seed_commitment, stratum_of
from careledger.trials._registry import TrialRegistry
from careledger.trials._safety import SafetyReportRequest, SafetyReports, SignedSafetyReport
from careledger.trials._site import TrialSite
from careledger.trials._site_views import (
    AdverseEventInput,
    ConsentDocument,
    CrfEntry,
    CrfVersion,
    Enrolment,
    ParticipantTrial,
    ScheduledVisit,
    VisitRow,
)
from careledger.trials._store import TrialStore
from careledger.trials._study import research_study
from careledger.trials._subjects import study_reference
from careledger.trials._views import (
    Allocation,
    ForecastView,
    Payment,
    PaymentsView,
    TrialSummary,
    Unblinding,
    VersionView,
)
from careledger.trials._visit_leaves import TrialVisitLeaves

__all__ = [
    "PARTICIPANT_SYSTEM",
    "SALT_SYSTEM",
    "AdverseEventInput",
    "Allocation",
    "Arm",
    "ConsentDocument",
    "Consents",
    "CrfEntry",
    "CrfVersion",
    "Criterion",
    "Discrepancy",
    "Eligibility",
    "Enrolment",
    "Forecast",
    "ForecastView",
    "Nodes",
    "ParticipantTrial",
    "Payment",
    "PaymentsView",
    "PoissonGamma",
    "ReportDelivery",
    "ReportedAdverseEvent",
    "SafetyReportRequest",
    "SafetyReports",
    "ScheduledVisit",
    "Settlement",
    "SignedSafetyReport",
    "SiteEnrolment",
    "StratumFactor",
    "TrialConsent",
    "TrialParticipantDesk",
    "TrialProtocol",
    "TrialRegistry",
    "TrialSite",
    "TrialStore",
    "TrialSummary",
    "TrialVisitLeaves",
    "TrialWithdrawal",
    "Unblinding",
    "VersionView",
    "Visit",
    "VisitRow",
    "adverse_event",
    "allocate",
    "allocation_commitment",
    "backtest_forecast",
    "check_eligibility",
    "check_response",
    "consent_digest",
    "consent_hash",
    "consent_resource",
    "consent_typed_data",
    "correction_provenance",
    "crf_complete",
    "crf_problems",
    "fit_enrolment",
    "forecast",
    "is_serious",
    "load_protocol",
    "new_salt",
    "new_seed",
    "participant_id",
    "protocol_document",
    "questionnaire",
    "research_study",
    "research_subject",
    "safety_report",
    "seed_commitment",
    "signer_of",
    "sites_to_add",
    "source_check",
    "stratum_of",
    "stratum_values",
    "study_reference",
    "visit_of",
    "withdrawal_typed_data",
]
