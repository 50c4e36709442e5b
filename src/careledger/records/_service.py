"""The record service: write, read, version and delete encrypted FHIR records.

```
FHIR JSON ─validate─► meta.versionId/lastUpdated ─► canonical bytes ─seal (patient + node keys)─►
ciphertext ─► blob store (by CID) ─► version row + search tokens + salted commitment (queued to anchor)
```

Nothing is overwritten: an update is a new version, a delete a tombstone version. The
blob is written before the row, so a crash leaves at worst an unreferenced blob, never a
row without its data.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from careledger._failpoints import crash_point
from careledger.crypto import (
    Envelope,
    PrivateKey,
    PublicKey,
    RecordContext,
    SealedKey,
    canonical_json,
    seal,
    unseal,
)
from careledger.errors import Conflict, NotFound, ValidationError
from careledger.records._categories import Category, categorise
from careledger.records._commitment import commitment
from careledger.records._fhir import Resource, parse_resource, patient_reference
from careledger.records._tokens import tokens
from careledger.store import BlobStore, Database, RecordToken, RecordVersion

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

    @classmethod
    def of(cls, row: RecordVersion) -> StoredRecord:
        return cls(
            record_id=row.record_id,
            version=row.version,
            resource_type=row.resource_type,
            patient_id=row.patient_id,
            patient_address=row.patient_address,
            category=Category(row.category),
            # SQLite hands back naive datetimes; every stored time is UTC.
            last_updated=row.last_updated.replace(tzinfo=row.last_updated.tzinfo or UTC),
            deleted=row.deleted,
            cid=row.cid,
            anchored_batch=row.batch_id,
            sealed_keys=row.sealed_keys,
        )

    @property
    def context(self) -> RecordContext:
        return RecordContext(self.record_id, self.version, self.patient_address, self.category.value)


KeyResolver = Callable[[str], PublicKey]


class RecordService:
    """Records of the patients this node is custodian for."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        custodian_public: PublicKey,
        custodian_key: Callable[[], PrivateKey],
        patient_key: KeyResolver,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.blobs = blobs
        self._custodian_public = custodian_public
        self._custodian_key = custodian_key
        self._patient_key = patient_key
        self._clock = clock

    def write(self, body: bytes | str | Resource, *, patient_address: str | None = None) -> StoredRecord:
        """Create or update (by `id`) a record; the stored version."""
        data = parse_resource(body)
        record_id = str(data.get("id") or uuid.uuid4())
        if not _FHIR_ID.fullmatch(record_id):
            raise ValidationError(f"invalid FHIR id {record_id!r}: 1-64 of A-Z a-z 0-9 - .")
        with self.db.session() as session:
            current = _current(session, record_id)
            if current is not None and current.resource_type != data["resourceType"]:
                raise Conflict(f"{record_id} is a {current.resource_type}, not a {data['resourceType']}")
            patient_id, address = self._owner(session, data, record_id, current, patient_address)
            version = current.version + 1 if current else 1
            now = self._clock()
            data["id"] = record_id
            data["meta"] = {**data.get("meta", {}), "versionId": str(version), "lastUpdated": _instant(now)}
            category = categorise(data)
            context = RecordContext(record_id, version, address, category.value)
            envelope = seal(canonical_json(data), context, [self._patient_key(address), self._custodian_public])
            # The blob is durable before the row that names it is committed.
            cid = self.blobs.put(envelope.ciphertext)
            crash_point("record-blob-written")
            row = self._row(data["resourceType"], patient_id, context, now, cid=cid, envelope=envelope)
            self._store(session, row, data)
        return StoredRecord.of(row)

    def delete(self, record_id: str) -> StoredRecord:
        """A tombstone version: the record reads as deleted; its history stays readable."""
        with self.db.session() as session:
            current = _current(session, record_id)
            if current is None:
                raise NotFound(f"no record {record_id}")
            if current.deleted:
                return StoredRecord.of(current)
            context = RecordContext(record_id, current.version + 1, current.patient_address, current.category)
            row = self._row(current.resource_type, current.patient_id, context, self._clock(), cid=None, envelope=None)
            self._store(session, row, None)
        return StoredRecord.of(row)

    def read(self, record_id: str, version: int | None = None) -> Resource:
        """The decrypted resource (a version, or the current one)."""
        stored = self.get(record_id, version)
        if stored.deleted:
            raise NotFound(f"{stored.resource_type}/{record_id} was deleted in version {stored.version}")
        return self.decrypt(stored, self._custodian_key())

    def decrypt(self, stored: StoredRecord, key: PrivateKey) -> Resource:
        """Open a stored version with `key` (the node's, or the patient's for export)."""
        sealed = tuple(SealedKey.from_bytes(bytes.fromhex(h)) for h in json.loads(stored.sealed_keys or "[]"))
        if stored.cid is None:
            raise NotFound(f"{stored.resource_type}/{stored.record_id} version {stored.version} is a deletion")
        envelope = Envelope(self.blobs.get(stored.cid), sealed)
        resource: Resource = json.loads(unseal(envelope, stored.context, key))
        return resource

    def export(self, patient_address: str, key: PrivateKey) -> Iterator[Resource]:
        """Every current record of a patient, decrypted with `key` (data portability)."""
        for stored in self.list(patient_address=patient_address):
            yield self.decrypt(stored, key)

    def get(self, record_id: str, version: int | None = None) -> StoredRecord:
        with self.db.session() as session:
            row = _current(session, record_id) if version is None else session.get(RecordVersion, (record_id, version))
            if row is None:
                raise NotFound(f"no record {record_id}" + (f" version {version}" if version else ""))
            return StoredRecord.of(row)

    def history(self, record_id: str) -> list[StoredRecord]:
        """Every version, newest first (FHIR `_history` order)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(RecordVersion).where(RecordVersion.record_id == record_id).order_by(RecordVersion.version.desc())
            ).all()
            if not rows:
                raise NotFound(f"no record {record_id}")
            return [StoredRecord.of(row) for row in rows]

    def list(self, *, patient_address: str | None = None, resource_type: str | None = None) -> list[StoredRecord]:
        """Current, undeleted records, oldest first."""
        query = select(RecordVersion).where(RecordVersion.is_current, ~RecordVersion.deleted)
        if patient_address is not None:
            query = query.where(RecordVersion.patient_address == patient_address)
        if resource_type is not None:
            query = query.where(RecordVersion.resource_type == resource_type)
        with self.db.session() as session:
            rows = session.scalars(query.order_by(RecordVersion.last_updated, RecordVersion.record_id)).all()
            return [StoredRecord.of(row) for row in rows]

    def _owner(
        self,
        session: Session,
        data: Resource,
        record_id: str,
        current: RecordVersion | None,
        given: str | None,
    ) -> tuple[str | None, str]:
        """The FHIR Patient id and the patient's address a resource belongs to."""
        if data["resourceType"] == "Patient":
            address = given or (current.patient_address if current else None)
            if address is None:
                raise ValidationError("a Patient needs the patient's wallet (--patient NAME)")
            return record_id, address
        patient_id = patient_reference(data)
        if patient_id is None:
            if given is None:
                raise ValidationError(
                    f"{data['resourceType']} names no Patient (subject, patient or beneficiary); pass --patient"
                )
            return None, given
        patient_row = _current(session, patient_id)
        if patient_row is None or patient_row.resource_type != "Patient":
            raise ValidationError(
                f"{data['resourceType']} refers to Patient/{patient_id}, which this node does not hold"
            )
        if given is not None and given != patient_row.patient_address:
            raise ValidationError(f"Patient/{patient_id} belongs to {patient_row.patient_address}, not {given}")
        return patient_id, patient_row.patient_address

    def _row(
        self,
        resource_type: str,
        patient_id: str | None,
        context: RecordContext,
        now: datetime,
        *,
        cid: str | None,
        envelope: Envelope | None,
    ) -> RecordVersion:
        salt = os.urandom(32)
        return RecordVersion(
            record_id=context.record_id,
            version=context.version,
            resource_type=resource_type,
            patient_id=patient_id,
            patient_address=context.patient,
            category=context.category,
            cid=cid,
            sealed_keys=json.dumps([k.to_bytes().hex() for k in envelope.sealed_keys]) if envelope else None,
            salt=salt,
            commitment=commitment(
                salt=salt, cid=cid or "", patient=context.patient, resource_type=resource_type, version=context.version
            ),
            last_updated=now,
            deleted=envelope is None,
            is_current=True,
        )

    def _store(self, session: Session, row: RecordVersion, data: Resource | None) -> None:
        """The new version, the old one no longer current, and the search tokens, in one transaction."""
        session.execute(
            update(RecordVersion)
            .where(RecordVersion.record_id == row.record_id, RecordVersion.is_current)
            .values(is_current=False)
        )
        session.add(row)
        session.execute(delete(RecordToken).where(RecordToken.record_id == row.record_id))
        if data is not None:
            session.add_all(
                RecordToken(
                    record_id=row.record_id,
                    resource_type=row.resource_type,
                    patient_id=row.patient_id,
                    param=token.param,
                    system=token.system[:255],
                    value=token.value[:255],
                )
                for token in tokens(data)
            )


def _current(session: Session, record_id: str) -> RecordVersion | None:
    return session.scalars(
        select(RecordVersion).where(RecordVersion.record_id == record_id, RecordVersion.is_current)
    ).one_or_none()


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
