"""Telehealth: visits booked over FHIR, their consent, messages, video rooms and payment (DESIGN.md section 11)."""

from careledger.telehealth._booking import HOLDING, SLOT_TAKEN, Hold, Opening, Scheduling, proposal, slot_ids
from careledger.telehealth._payments import NO_SHOW_BPS, VisitPayment, VisitPayments, visit_key
from careledger.telehealth._schedule import (
    Offer,
    Schedules,
    VisitMode,
    fee_of,
    parse_instant,
    practitioner_of,
    service_class,
    visit_mode,
)
from careledger.telehealth._visit_consent import VisitConsents, VisitWindow
from careledger.telehealth._visits import VisitQuote, Visits

__all__ = [
    "HOLDING",
    "NO_SHOW_BPS",
    "SLOT_TAKEN",
    "Hold",
    "Offer",
    "Opening",
    "Schedules",
    "Scheduling",
    "VisitConsents",
    "VisitMode",
    "VisitPayment",
    "VisitPayments",
    "VisitQuote",
    "VisitWindow",
    "Visits",
    "fee_of",
    "parse_instant",
    "practitioner_of",
    "proposal",
    "service_class",
    "slot_ids",
    "visit_key",
    "visit_mode",
]
