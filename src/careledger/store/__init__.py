"""The node's own storage: SQL tables (SQLite or PostgreSQL) migrated by Alembic."""

from careledger.store._blobs import BlobStore
from careledger.store._database import Database, sqlite_url
from careledger.store.models import (
    RECORD_TOKENS,
    RECORD_VERSIONS,
    AnchorBatch,
    Base,
    EventCursor,
    ImportCheckpoint,
    RecordToken,
    RecordVersion,
)

__all__ = [
    "RECORD_TOKENS",
    "RECORD_VERSIONS",
    "AnchorBatch",
    "Base",
    "BlobStore",
    "Database",
    "EventCursor",
    "ImportCheckpoint",
    "RecordToken",
    "RecordVersion",
    "sqlite_url",
]
