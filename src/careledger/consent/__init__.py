"""Consent: the patient's grants on chain and the node's index of them (access under them is `careledger.access`).

`ConsentTerms`, the terms a patient signs, and `SignedAction`, a revocation or care team
restriction she signed, are the chain's types, re-exported for faces.
"""

from careledger.chain import ConsentTerms, SignedAction
from careledger.consent._index import Grant
from careledger.consent._service import (
    ConsentService,
    SignedConsent,
    consent_resource,
    read_signed_consent,
    signature_file,
    write_consent,
)
from careledger.consent._signed import SignedActions
from careledger.consent._terms import Purpose, parse_categories, parse_purposes

__all__ = [
    "ConsentService",
    "ConsentTerms",
    "Grant",
    "Purpose",
    "SignedAction",
    "SignedActions",
    "SignedConsent",
    "consent_resource",
    "parse_categories",
    "parse_purposes",
    "read_signed_consent",
    "signature_file",
    "write_consent",
]
