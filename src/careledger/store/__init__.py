"""The node's own storage: SQL tables (SQLite or PostgreSQL) migrated by Alembic."""

from careledger.store._blobs import BlobStore
from careledger.store._database import Database, sqlite_url
from careledger.store.models import AnchorBatch, Base, EventCursor, RecordToken, RecordVersion

__all__ = [
    "AnchorBatch",
    "Base",
    "BlobStore",
    "Database",
    "EventCursor",
    "RecordToken",
    "RecordVersion",
    "sqlite_url",
]
