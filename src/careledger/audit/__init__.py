"""The audit log: a FHIR AuditEvent for every access, hash-chained, heads anchored on chain."""

from careledger.audit._events import ANONYMOUS, Access, Action, Outcome, access_of, audit_event, request_of
from careledger.audit._heads import AuditHeads
from careledger.audit._log import GENESIS, AuditLog, AuditReport, Entry, entry_hash

__all__ = [
    "ANONYMOUS",
    "GENESIS",
    "Access",
    "Action",
    "AuditHeads",
    "AuditLog",
    "AuditReport",
    "Entry",
    "Outcome",
    "access_of",
    "audit_event",
    "entry_hash",
    "request_of",
]
