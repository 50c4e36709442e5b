"""Telehealth: visits booked over FHIR, their consent, messages, video rooms and payment (DESIGN.md section 11)."""

from careledger.telehealth._visit_consent import VisitConsents, VisitWindow
from careledger.telehealth._visits import VisitQuote, Visits

__all__ = [
    "VisitConsents",
    "VisitQuote",
    "VisitWindow",
    "Visits",
]
