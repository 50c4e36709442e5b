"""Consent: the patient's grants on chain, the node's index of them, and access under them."""

from careledger.consent._access import BREAK_GLASS_WINDOW, Accessor, Decision, EmergencyWindow, RecordAccess
from careledger.consent._service import (
    ConsentService,
    Grant,
    SignedConsent,
    consent_resource,
    read_signed_consent,
    write_signed_consent,
)
from careledger.consent._terms import Purpose, parse_categories, parse_purposes

__all__ = [
    "BREAK_GLASS_WINDOW",
    "Accessor",
    "ConsentService",
    "Decision",
    "EmergencyWindow",
    "Grant",
    "Purpose",
    "RecordAccess",
    "SignedConsent",
    "consent_resource",
    "parse_categories",
    "parse_purposes",
    "read_signed_consent",
    "write_signed_consent",
]
