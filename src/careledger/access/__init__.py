"""Access: the policy (one pure decision per read or write) and the guarded repository every face goes through."""

from careledger.access._policy import AFFILIATION, WRITE_PURPOSES, Accessor, Decision, Facts, may_read, may_write
from careledger.access._repository import BREAK_GLASS_WINDOW, MEDICAL_LICENCE, EmergencyWindow, RecordAccess

__all__ = [
    "AFFILIATION",
    "BREAK_GLASS_WINDOW",
    "MEDICAL_LICENCE",
    "WRITE_PURPOSES",
    "Accessor",
    "Decision",
    "EmergencyWindow",
    "Facts",
    "RecordAccess",
    "may_read",
    "may_write",
]
