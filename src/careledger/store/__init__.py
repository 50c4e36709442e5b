"""The node's own storage: SQL tables (SQLite or PostgreSQL) migrated by Alembic."""

from careledger.store._blobs import BlobStore
from careledger.store._database import Database, sqlite_url
from careledger.store.models import (
    AUDIT_EVENTS,
    RECORD_TOKENS,
    RECORD_VERSIONS,
    AnchorBatch,
    AuditEntry,
    Base,
    CareTeamRestriction,
    ClaimCode,
    ConsentDelegation,
    ConsentGrant,
    EmergencyAccess,
    EventCursor,
    ExchangeNonce,
    ImportCheckpoint,
    NodeState,
    OAuthClient,
    RecordToken,
    RecordVersion,
)

__all__ = [
    "AUDIT_EVENTS",
    "RECORD_TOKENS",
    "RECORD_VERSIONS",
    "AnchorBatch",
    "AuditEntry",
    "Base",
    "BlobStore",
    "CareTeamRestriction",
    "ClaimCode",
    "ConsentDelegation",
    "ConsentGrant",
    "Database",
    "EmergencyAccess",
    "EventCursor",
    "ExchangeNonce",
    "ImportCheckpoint",
    "NodeState",
    "OAuthClient",
    "RecordToken",
    "RecordVersion",
    "sqlite_url",
]
