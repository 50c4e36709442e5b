"""What a record version is without its plaintext: a stored version, a draft to store, an anchored one.

These are the record repository's own types; its statements over `record_versions` are
built here once, since reads by id run thousands of times a second.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from careledger.crypto import PublicKey, RecordContext, SealedKey
from careledger.errors import AccessDenied, Conflict, ValidationError
from careledger.records._categories import Category
from careledger.records._fhir import Resource
from careledger.store import RECORD_VERSIONS

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """What the node knows of one record version without decrypting it."""

    record_id: str
    version: int
    resource_type: str
    patient_id: str | None
    patient_address: str
    category: Category
    last_updated: datetime
    deleted: bool
    cid: str | None
    anchored_batch: int | None
    sealed_keys: str | None = field(default=None, repr=False)
    author: str | None = None  # who wrote this version (None: written before authors were kept)

    @classmethod
    def of(cls, row: Mapping[Any, Any], category: Category) -> StoredRecord:
        """From a `record_versions` row (or the values of one about to be inserted) and its category.

        The row holds only the category's tag: a row read back is `RecordService`'s `_stored`,
        which reads the tag with the index; a row just built passes the category it was built with.
        """
        last_updated: datetime = row["last_updated"]
        return cls(
            record_id=row["record_id"],
            version=row["version"],
            resource_type=row["resource_type"],
            patient_id=row["patient_id"],
            patient_address=row["patient_address"],
            category=category,
            # SQLite hands back naive datetimes; every stored time is UTC.
            last_updated=last_updated.replace(tzinfo=last_updated.tzinfo or UTC),
            deleted=bool(row["deleted"]),
            cid=row["cid"],
            anchored_batch=row["batch_id"],
            sealed_keys=row["sealed_keys"],
            author=row["author"],
        )

    @property
    def context(self) -> RecordContext:
        """What the version's ciphertext is bound to."""
        return RecordContext(self.record_id, self.version, self.patient_address, self.category.value)

    def data_keys(self) -> tuple[SealedKey, ...]:
        """The version's data key as sealed to each recipient (none for a deletion)."""
        return tuple(SealedKey.from_bytes(bytes.fromhex(h)) for h in json.loads(self.sealed_keys or "[]"))


KeyResolver = Callable[[str], PublicKey]
# Called with a record's current version (None if new) and the version about to be stored.
Guard = Callable[[StoredRecord | None, StoredRecord], None]
# Called in the transaction that stores the versions, with them.
Also = Callable[[Session, list[StoredRecord]], None]

COLUMNS = RECORD_VERSIONS.c
# What one draft of a group can be refused for, without the others being at fault.
ONE_DRAFTS_FAULT = (ValidationError, Conflict, AccessDenied)
STORED_COLUMNS = tuple(
    COLUMNS[name]
    for name in (
        "record_id",
        "version",
        "resource_type",
        "patient_id",
        "patient_address",
        "category",
        "last_updated",
        "deleted",
        "cid",
        "batch_id",
        "sealed_keys",
        "author",
    )
)


# Reads by id run thousands of times a second: their statements are built once.
CURRENT_VERSION = select(*STORED_COLUMNS).where(COLUMNS.record_id == bindparam("record_id"), COLUMNS.is_current)
ONE_VERSION = select(*STORED_COLUMNS).where(
    COLUMNS.record_id == bindparam("record_id"), COLUMNS.version == bindparam("version")
)


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated resource with its id, not yet stored: what `RecordService.store` takes."""

    data: Resource
    patient_address: str | None = None
    author: str | None = None

    @property
    def record_id(self) -> str:
        """The record's id."""
        return str(self.data["id"])

    @classmethod
    def of(cls, data: Resource, patient_address: str | None = None) -> Draft:
        """A draft of `data` that `parse_resource` has already validated; given an id if it has none."""
        record_id = str(data.setdefault("id", str(uuid.uuid4())))
        if not _FHIR_ID.fullmatch(record_id):
            raise ValidationError(f"invalid FHIR id {record_id!r}: 1-64 of A-Z a-z 0-9 - .")
        return cls(data, patient_address)


@dataclass(frozen=True, slots=True)
class AnchoredVersion:
    """One stored version with its ciphertext and what proves it on chain."""

    stored: StoredRecord
    ciphertext: bytes
    salt: bytes
    commitment: bytes
    proof: tuple[bytes, ...]
    root: bytes


@dataclass(frozen=True, slots=True)
class Write:
    """One writer's draft in a group commit, with that writer's `check` and `also`."""

    draft: Draft
    check: Guard | None
    also: Also | None
