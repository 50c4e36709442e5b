"""Telehealth: visits booked over FHIR, their consent, messages, video rooms and payment (DESIGN.md section 11)."""

from careledger.telehealth._attachments import CONTENT_TYPES, MAX_ATTACHMENT_BYTES, Attachment
from careledger.telehealth._events import MAX_STREAMS, Event, Events, Subscription, stream
from careledger.telehealth._messages import Courier, Messages, Receipt, Thread, affiliated_node, text_of
from careledger.telehealth._receipts import Readers, Receipts, Unread

__all__ = [
    "CONTENT_TYPES",
    "MAX_ATTACHMENT_BYTES",
    "MAX_STREAMS",
    "Attachment",
    "Courier",
    "Event",
    "Events",
    "Messages",
    "Readers",
    "Receipt",
    "Receipts",
    "Subscription",
    "Thread",
    "Unread",
    "affiliated_node",
    "stream",
    "text_of",
]
