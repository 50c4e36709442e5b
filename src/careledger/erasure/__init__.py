"""Erasure by key destruction: a patient's signed request (or her custodian's, on her documented instruction)
erases her records at a node, every node that fetched copies is asked to do the same, and what legal holds and
retention rules keep is said, by name, before she confirms (docs/erasure.md)."""

from careledger.erasure._peers import ANSWERED, REFUSED, WAITING, ErasurePeers, PeerStatus
from careledger.erasure._plan import Kept, Plan
from careledger.erasure._request import (
    MAX_NOTICE_BYTES,
    ErasureAnswer,
    ErasureNotice,
    ErasureRequest,
    SignedAnswer,
    SignedErasure,
    SignedNotice,
)
from careledger.erasure._rules import HOLD_INTERACTION, Hold, LegalHolds, Retention
from careledger.erasure._service import INTERACTION, Erasure, Erasures

__all__ = [
    "ANSWERED",
    "HOLD_INTERACTION",
    "INTERACTION",
    "MAX_NOTICE_BYTES",
    "REFUSED",
    "WAITING",
    "Erasure",
    "ErasureAnswer",
    "ErasureNotice",
    "ErasurePeers",
    "ErasureRequest",
    "Erasures",
    "Hold",
    "Kept",
    "LegalHolds",
    "PeerStatus",
    "Plan",
    "Retention",
    "SignedAnswer",
    "SignedErasure",
    "SignedNotice",
]
