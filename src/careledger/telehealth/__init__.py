"""Telehealth: visits booked over FHIR, their consent, messages, video rooms and payment (DESIGN.md section 11)."""

from careledger.telehealth._admission import (
    ACTIVE,
    DEFAULT_LENGTH,
    GRACE_AFTER,
    OPENS_BEFORE,
    Admission,
    RoomRole,
    unknown_room,
    window,
)
from careledger.telehealth._attachments import CONTENT_TYPES, MAX_ATTACHMENT_BYTES, Attachment
from careledger.telehealth._booking import HOLDING, SLOT_TAKEN, Hold, Opening, Scheduling, proposal, slot_ids
from careledger.telehealth._bus import Bus, LocalBus, PostgresBus
from careledger.telehealth._events import MAX_STREAMS, Event, Events, Subscription, stream
from careledger.telehealth._ice import TURN_CREDENTIAL_SECONDS, ice_servers, turn_password
from careledger.telehealth._messages import MAX_TEXT, Courier, Messages, Receipt, Thread, text_of
from careledger.telehealth._payments import NO_SHOW_BPS, Agreed, VisitMovement, VisitPayment, VisitPayments, visit_key
from careledger.telehealth._quotes import VisitQuote
from careledger.telehealth._receipts import Readers, Receipts, Unread
from careledger.telehealth._reminders import REMINDER_LEADS, REMINDER_WINDOW, Reminders, visit_reminders
from careledger.telehealth._rooms import (
    HEARTBEAT_SECONDS,
    PRESENCE_SECONDS,
    REPLACED,
    ROOM_CLOSED,
    TOO_FAST,
    Ending,
    Rooms,
    Seat,
)
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
from careledger.telehealth._signals import BURST, MAX_MESSAGE_BYTES, PER_SECOND, Signal, parse_signal
from careledger.telehealth._visit_consent import VisitConsents, VisitWindow
from careledger.telehealth._visits import Booked, BookingOffer, Visits, VisitSignatures

__all__ = [
    "ACTIVE",
    "BURST",
    "CONTENT_TYPES",
    "DEFAULT_LENGTH",
    "GRACE_AFTER",
    "HEARTBEAT_SECONDS",
    "HOLDING",
    "MAX_ATTACHMENT_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_STREAMS",
    "MAX_TEXT",
    "NO_SHOW_BPS",
    "OPENS_BEFORE",
    "PER_SECOND",
    "PRESENCE_SECONDS",
    "REMINDER_LEADS",
    "REMINDER_WINDOW",
    "REPLACED",
    "ROOM_CLOSED",
    "SLOT_TAKEN",
    "TOO_FAST",
    "TURN_CREDENTIAL_SECONDS",
    "Admission",
    "Agreed",
    "Attachment",
    "Booked",
    "BookingOffer",
    "Bus",
    "Courier",
    "Ending",
    "Event",
    "Events",
    "Hold",
    "LocalBus",
    "Messages",
    "Offer",
    "Opening",
    "PostgresBus",
    "Readers",
    "Receipt",
    "Receipts",
    "Reminders",
    "RoomRole",
    "Rooms",
    "Schedules",
    "Scheduling",
    "Seat",
    "Signal",
    "Subscription",
    "Thread",
    "Unread",
    "VisitConsents",
    "VisitMode",
    "VisitMovement",
    "VisitPayment",
    "VisitPayments",
    "VisitQuote",
    "VisitSignatures",
    "VisitWindow",
    "Visits",
    "fee_of",
    "ice_servers",
    "parse_instant",
    "parse_signal",
    "practitioner_of",
    "proposal",
    "service_class",
    "slot_ids",
    "stream",
    "text_of",
    "turn_password",
    "unknown_room",
    "visit_key",
    "visit_mode",
    "visit_reminders",
    "window",
]
