"""Access: the policy (one pure decision per read or write) and the guarded repository every face goes through."""

from careledger.access._break_glass import BREAK_GLASS_WINDOW, EmergencySwitch, EmergencyWindow, seal_older_reasons
from careledger.access._break_glass_reviews import (
    MAX_NOTE,
    BreakGlassReview,
    BreakGlassReviews,
    BreakGlassUse,
    Verdict,
    parse_verdict,
)
from careledger.access._claim_limits import network_of
from careledger.access._claiming import (
    CLAIM_CODE_DAYS,
    MAX_FAILURES,
    Claimed,
    CodeState,
    CodeStatus,
    IdentityClaims,
    IssuedCode,
    encryption_key_from_hex,
)
from careledger.access._disclosures import Disclosures, Emergency
from careledger.access._door import RecordAccess
from careledger.access._facts import Payers
from careledger.access._members import Member
from careledger.access._messaging import identified_wallet, practitioner_wallet, referenced_wallet, wallet_reference
from careledger.access._policy import (
    WRITE_PURPOSES,
    Accessor,
    Decision,
    Facts,
    MessageFacts,
    consents_listed_for,
    coverage_patients,
    default_purpose,
    may_bill,
    may_message,
    may_read,
    may_see_consent,
    may_see_coverage,
    may_submit_as,
    may_write,
    readable_patients,
)
from careledger.access._repository import Repository
from careledger.access._system import SystemRepository
from careledger.identity import AFFILIATION, MEDICAL_LICENCE

__all__ = [
    "AFFILIATION",
    "BREAK_GLASS_WINDOW",
    "CLAIM_CODE_DAYS",
    "MAX_FAILURES",
    "MAX_NOTE",
    "MEDICAL_LICENCE",
    "WRITE_PURPOSES",
    "Accessor",
    "BreakGlassReview",
    "BreakGlassReviews",
    "BreakGlassUse",
    "Claimed",
    "CodeState",
    "CodeStatus",
    "Decision",
    "Disclosures",
    "Emergency",
    "EmergencySwitch",
    "EmergencyWindow",
    "Facts",
    "IdentityClaims",
    "IssuedCode",
    "Member",
    "MessageFacts",
    "Payers",
    "RecordAccess",
    "Repository",
    "SystemRepository",
    "Verdict",
    "consents_listed_for",
    "coverage_patients",
    "default_purpose",
    "encryption_key_from_hex",
    "identified_wallet",
    "may_bill",
    "may_message",
    "may_read",
    "may_see_consent",
    "may_see_coverage",
    "may_submit_as",
    "may_write",
    "network_of",
    "parse_verdict",
    "practitioner_wallet",
    "readable_patients",
    "referenced_wallet",
    "seal_older_reasons",
    "wallet_reference",
]
