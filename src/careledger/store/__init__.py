"""The node's own storage: SQL tables (SQLite or PostgreSQL) migrated by Alembic."""

from careledger.store._blobs import BlobStore
from careledger.store._database import Database, sqlite_url
from careledger.store.models import Base, EventCursor

__all__ = ["Base", "BlobStore", "Database", "EventCursor", "sqlite_url"]
