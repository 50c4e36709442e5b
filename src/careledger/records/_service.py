"""The record service: write, read, version and delete encrypted FHIR records.

```
FHIR JSON ─validate─► meta.versionId/lastUpdated ─► canonical bytes ─seal (patient + node keys)─►
ciphertext ─► blob store (by CID) ─► version row + search tokens + salted commitment (queued to anchor)
```

Nothing is overwritten: an update is a new version, a delete a tombstone version. The
blob is written before the row, so a crash leaves at worst an unreferenced blob, never a
row without its data.

Whoever writes may pass a `check`, called with each record's current and new version
before anything is written (the access policy refuses there), and an `also`, called in
the transaction that stores the versions (the audit entry goes there, so a crash leaves
both or neither). This module decides nothing about who may write.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from careledger._failpoints import crash_point
from careledger._group_commit import GroupCommit
from careledger.crypto import (
    DataKeyCache,
    Envelope,
    PrivateKey,
    PublicKey,
    RecordContext,
    SealedKey,
    canonical_json,
    reseal,
    seal,
    sealed_to,
    unseal,
)
from careledger.errors import AccessDenied, CareLedgerError, Conflict, Gone, NotFound, ValidationError
from careledger.fhir import in_patient_compartment
from careledger.identity import CustodialIdentity, CustodialPatients
from careledger.records._blind_index import BlindIndex
from careledger.records._categories import Category, categorise
from careledger.records._commitment import commitment
from careledger.records._fhir import Resource, parse_resource, patient_reference, wallet_identifier
from careledger.records._search import SearchQuery, search_statement
from careledger.records._tokens import blind_terms, tokens
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS, AnchorBatch, BlobStore, Database, NodeState

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
        return RecordContext(self.record_id, self.version, self.patient_address, self.category.value)

    def data_keys(self) -> tuple[SealedKey, ...]:
        """The version's data key as sealed to each recipient (none for a deletion)."""
        return tuple(SealedKey.from_bytes(bytes.fromhex(h)) for h in json.loads(self.sealed_keys or "[]"))


KeyResolver = Callable[[str], PublicKey]
# Called with a record's current version (None if new) and the version about to be stored.
Guard = Callable[[StoredRecord | None, StoredRecord], None]
# Called in the transaction that stores the versions, with them.
Also = Callable[[Session, list[StoredRecord]], None]

_COLUMNS = RECORD_VERSIONS.c
# What one draft of a group can be refused for, without the others being at fault.
_ONE_DRAFTS_FAULT = (ValidationError, Conflict, AccessDenied)
_STORED_COLUMNS = tuple(
    _COLUMNS[name]
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
_CURRENT_VERSION = select(*_STORED_COLUMNS).where(_COLUMNS.record_id == bindparam("record_id"), _COLUMNS.is_current)
_ONE_VERSION = select(*_STORED_COLUMNS).where(
    _COLUMNS.record_id == bindparam("record_id"), _COLUMNS.version == bindparam("version")
)


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated resource with its id, not yet stored: what `RecordService.store` takes."""

    data: Resource
    patient_address: str | None = None
    author: str | None = None

    @property
    def record_id(self) -> str:
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
class _Write:
    """One writer's draft in a group commit, with that writer's `check` and `also`."""

    draft: Draft
    check: Guard | None
    also: Also | None


class RecordService:
    """Records of the patients this node is custodian for."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        custodian: str,
        custodian_public: PublicKey,
        custodian_key: Callable[[], PrivateKey],
        patient_key: KeyResolver,
        index: BlindIndex,
        custodial: CustodialPatients | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`custodial` makes identities for Patients that arrive without a wallet (none: they are refused)."""
        self.db = db
        self._custodial = custodial
        self.blobs = blobs
        self.index = index
        self.custodian = custodian  # the node's address: the owner of its resources outside any patient's compartment
        self._custodian_public = custodian_public
        self._custodian_key = custodian_key
        self._patient_key = patient_key
        self._clock = clock
        self._writes: GroupCommit[_Write, StoredRecord] = GroupCommit(self._store_group, name="careledger-records")
        self._data_keys = DataKeyCache()

    def write(
        self,
        body: bytes | str | Resource | Draft,
        *,
        patient_address: str | None = None,
        check: Guard | None = None,
        also: Also | None = None,
    ) -> StoredRecord:
        """Create or update (by `id`) a record; the stored version.

        `body` is validated unless it is a `Draft` (validated already: the API parses a
        request's body once). Writes arriving at the same moment from other threads (an API
        under load) are stored together, one transaction and one group of fsyncs for all;
        alone, a write is its own.
        """
        draft = body if isinstance(body, Draft) else self.prepare(body, patient_address=patient_address)
        return self._writes.submit(_Write(draft, check, also))

    async def write_async(self, draft: Draft, *, check: Guard | None = None, also: Also | None = None) -> StoredRecord:
        """`write` from an event loop (the API): stored by the writes' committer thread, grouped likewise."""
        return await self._writes.submit_async(_Write(draft, check, also))

    def _store_group(self, writes: Sequence[_Write]) -> list[StoredRecord | CareLedgerError]:
        """Store a group of independent writes; if one cannot be stored, the others still are."""
        try:
            return list(self._store_writes(writes))
        except _ONE_DRAFTS_FAULT:
            if len(writes) == 1:
                raise
        outcomes: list[StoredRecord | CareLedgerError] = []
        for write in writes:
            try:
                outcomes.extend(self._store_writes([write]))
            except _ONE_DRAFTS_FAULT as exc:
                outcomes.append(exc)
        return outcomes

    def _store_writes(self, writes: Sequence[_Write]) -> list[StoredRecord]:
        """`store` for drafts of different writers: each one's `check` and `also` sees only its own versions."""
        if len(writes) == 1:
            return self.store([writes[0].draft], check=writes[0].check, also=writes[0].also)
        checks = {id(write.draft): write.check for write in writes}

        def check(draft: Draft, current: StoredRecord | None, new: StoredRecord) -> None:
            if (one := checks[id(draft)]) is not None:
                one(current, new)

        def also(session: Session, stored: list[StoredRecord]) -> None:
            for write, version in zip(writes, stored, strict=True):
                if write.also is not None:
                    write.also(session, [version])

        return self._store([write.draft for write in writes], check, also)

    @staticmethod
    def prepare(body: bytes | str | Resource, *, patient_address: str | None = None) -> Draft:
        """Validate a resource and give it an id if it has none; `ValidationError` names the problems."""
        return Draft.of(parse_resource(body), patient_address)

    def store(
        self, drafts: Sequence[Draft], *, check: Guard | None = None, also: Also | None = None
    ) -> list[StoredRecord]:
        """Store drafts as new versions, all or none, in one transaction (with `also`'s writes).

        A batch costs one transaction and one group of blob fsyncs, which is what makes bulk
        ingest fast. Drafts may refer to Patients earlier in the same batch. `check` sees every
        version before anything is written, and refuses by raising.
        """
        return self._store(drafts, None if check is None else lambda _draft, current, new: check(current, new), also)

    def _store(
        self,
        drafts: Sequence[Draft],
        check: Callable[[Draft, StoredRecord | None, StoredRecord], None] | None,
        also: Also | None,
    ) -> list[StoredRecord]:
        referenced = {ref for draft in drafts if (ref := patient_reference(draft.data)) is not None}
        # Read, seal and make the blobs durable before taking the database's write lock, so
        # other writers (the audit log) are not held up behind the fsyncs. A writer that
        # stores the same record meanwhile makes our insert collide on (record_id, version):
        # a `Conflict`, never a lost update.
        with self.db.reading() as connection:
            known = _current_versions(connection, {draft.record_id for draft in drafts} | referenced, self._stored)
        replaced = {draft.record_id for draft in drafts if draft.record_id in known}
        custodial = self._custodial_for(drafts, known)
        try:
            stored = self._seal_and_persist(drafts, known, replaced, custodial, check, also)
        except BaseException:
            if self._custodial is not None:
                self._custodial.discard(list(custodial.values()))
            raise
        return stored

    def _custodial_for(self, drafts: Sequence[Draft], known: dict[str, StoredRecord]) -> dict[str, CustodialIdentity]:
        """New identities for the new Patients that name no wallet, by record id (keys made, not yet registered)."""
        unowned = [
            draft.record_id
            for draft in drafts
            if draft.data["resourceType"] == "Patient"
            and draft.patient_address is None
            and draft.record_id not in known
            and wallet_identifier(draft.data) is None
        ]
        if not unowned or self._custodial is None:
            return {}
        return dict(zip(unowned, self._custodial.make(len(unowned)), strict=True))

    def _seal_and_persist(
        self,
        drafts: Sequence[Draft],
        known: dict[str, StoredRecord],
        replaced: set[str],
        custodial: dict[str, CustodialIdentity],
        check: Callable[[Draft, StoredRecord | None, StoredRecord], None] | None,
        also: Also | None,
    ) -> list[StoredRecord]:
        now = self._clock()
        encryption_keys: dict[str, PublicKey] = {}
        sealed: list[tuple[RecordContext, str | None, Resource, str | None, Envelope]] = []
        for draft in drafts:
            data = dict(draft.data)
            current = known.get(draft.record_id)
            if current is not None and current.resource_type != data["resourceType"]:
                raise Conflict(f"{draft.record_id} is a {current.resource_type}, not a {data['resourceType']}")
            given = draft.patient_address or (
                custodial[draft.record_id].address if draft.record_id in custodial else None
            )
            patient_id, address = _owner(data, current, given, known, self.custodian)
            version = current.version + 1 if current else 1
            data["meta"] = {**data.get("meta", {}), "versionId": str(version), "lastUpdated": _instant(now)}
            context = RecordContext(draft.record_id, version, address, categorise(data).value)
            new = StoredRecord.of(
                _version_row(
                    data["resourceType"],
                    patient_id,
                    context,
                    now,
                    cid=None,
                    sealed_keys=(),
                    author=draft.author,
                    index=self.index,
                ),
                Category(context.category),
            )
            if check is not None:
                check(draft, current, new)
            if current is not None and current.patient_address != address:
                raise AccessDenied(
                    f"{draft.record_id} is {current.patient_address}'s record; a new version cannot move it to another"
                    " patient (delete it and create one for the right patient)"
                )
            known[draft.record_id] = new
            if address == self.custodian:
                recipients = [self._custodian_public]
            else:
                if address not in encryption_keys:
                    encryption_keys[address] = self._patient_key(address)
                recipients = [encryption_keys[address], self._custodian_public]
            sealed.append((context, patient_id, data, draft.author, seal(canonical_json(data), context, recipients)))
        if custodial and self._custodial is not None:  # every version passed its check: register them now
            self._custodial.enrol(list(custodial.values()))
        # The blobs are durable before the rows that name them are committed.
        cids = self.blobs.put_many([envelope.ciphertext for *_, envelope in sealed])
        crash_point("record-blob-written")
        rows = [
            _version_row(
                data["resourceType"],
                patient_id,
                context,
                now,
                cid=cid,
                sealed_keys=envelope.sealed_keys,
                author=author,
                index=self.index,
            )
            for (context, patient_id, data, author, envelope), cid in zip(sealed, cids, strict=True)
        ]
        stored = [
            StoredRecord.of(row, Category(context.category)) for row, (context, *_) in zip(rows, sealed, strict=True)
        ]
        with self._transaction() as session:
            _persist(session, rows, {context.record_id: data for context, _, data, *_ in sealed}, replaced, self.index)
            if also is not None:
                also(session, stored)
            crash_point("record-rows-written")  # and the writer's `also`, not yet committed
        crash_point("record-committed")
        return stored

    def delete(
        self, record_id: str, *, author: str | None = None, check: Guard | None = None, also: Also | None = None
    ) -> StoredRecord:
        """A tombstone version: the record reads as deleted; its history stays readable."""
        with self._transaction() as session:
            current = _current_versions(session, {record_id}, self._stored).get(record_id)
            if current is None:
                raise NotFound(f"no record {record_id}")
            if current.deleted:
                return current
            context = RecordContext(record_id, current.version + 1, current.patient_address, current.category.value)
            row = _version_row(
                current.resource_type,
                current.patient_id,
                context,
                self._clock(),
                cid=None,
                sealed_keys=None,
                author=author,
                index=self.index,
            )
            tombstone = StoredRecord.of(row, current.category)
            if check is not None:
                check(current, tombstone)
            _persist(session, [row], {}, {record_id}, self.index)
            if also is not None:
                also(session, [tombstone])
        return tombstone

    def reseal(self, patient_address: str, to: PublicKey, *, also: Callable[[Session], None] | None = None) -> int:
        """Seal every version of a patient's records to her new key `to`, in one transaction (with `also`).

        Each version keeps two readers: the node (whose sealed copy opens the data key) and the
        patient, whose copy is replaced. Ciphertexts, commitments and anchors do not change: only
        who can open the data key does. How many versions were re-sealed.
        """
        query = select(*_STORED_COLUMNS).where(
            _COLUMNS.patient_address == patient_address, _COLUMNS.sealed_keys.is_not(None)
        )
        custodian_key = self._custodian_key()
        with self._transaction() as session:
            versions = [self._stored(row) for row in session.execute(query).mappings()]
            changes = []
            for stored in versions:
                node_copy = sealed_to(stored.data_keys(), self._custodian_public)
                theirs = reseal(node_copy, stored.context, custodian_key, to)
                keys = json.dumps([theirs.to_bytes().hex(), node_copy.to_bytes().hex()])
                changes.append({"rid": stored.record_id, "ver": stored.version, "keys": keys})
            if changes:
                statement = (
                    update(RECORD_VERSIONS)
                    .where(_COLUMNS.record_id == bindparam("rid"), _COLUMNS.version == bindparam("ver"))
                    .values(sealed_keys=bindparam("keys"))
                )
                session.execute(statement, changes)
            if also is not None:
                also(session)
        return len(changes)

    def upgrade_index(self) -> int:
        """Rebuild a pre-blind-index database's tokens and categories as keyed hashes; how many versions moved.

        Runs once, in one transaction (a crash leaves the old index, tried again next
        time): each version's plaintext category becomes its tag, and every current
        record's tokens are recomputed from its decrypted content (so it needs the node's key).
        """
        with self.db.reading() as connection:
            state = connection.execute(select(NodeState.value).where(NodeState.name == "blind_index")).scalar()
        if state != "pending":
            return 0
        with self._transaction() as session:
            rows = session.execute(select(*_STORED_COLUMNS, _COLUMNS.is_current)).mappings().all()
            session.execute(delete(RECORD_TOKENS))
            token_rows: list[dict[str, Any]] = []
            for row in rows:
                stored = self._stored(row)
                tag = self.index.category_tag(stored.record_id, stored.version, stored.category)
                if tag != row["category"]:
                    session.execute(
                        update(RECORD_VERSIONS)
                        .where(_COLUMNS.record_id == stored.record_id, _COLUMNS.version == stored.version)
                        .values(category=tag)
                    )
                if row["is_current"] and not stored.deleted:
                    token_rows.extend(
                        _token_rows(
                            stored.record_id, stored.resource_type, stored.patient_id, self.open(stored), self.index
                        )
                    )
            if token_rows:
                session.execute(insert(RECORD_TOKENS), token_rows)
            session.execute(update(NodeState).where(NodeState.name == "blind_index").values(value="done"))
        return len(rows)

    def read(self, record_id: str, version: int | None = None) -> Resource:
        """The decrypted resource (a version, or the current one)."""
        return self.open(self.get(record_id, version))

    def open(self, stored: StoredRecord) -> Resource:
        """A stored version decrypted with the node's key."""
        if stored.deleted:
            raise Gone(f"{stored.resource_type}/{stored.record_id} was deleted in version {stored.version}")
        return self.decrypt(stored, self._custodian_key())

    def decrypt(self, stored: StoredRecord, key: PrivateKey) -> Resource:
        """Open a stored version with `key` (the node's, or the patient's for export)."""
        sealed = stored.data_keys()
        if stored.cid is None:
            raise NotFound(f"{stored.resource_type}/{stored.record_id} version {stored.version} is a deletion")
        envelope = Envelope(self.blobs.get(stored.cid), sealed)
        resource: Resource = json.loads(unseal(envelope, stored.context, key, self._data_keys))
        return resource

    def export(self, patient_address: str, key: PrivateKey) -> Iterator[Resource]:
        """Every current record of a patient, decrypted with `key` (data portability)."""
        for stored in self.list(patient_address=patient_address):
            yield self.decrypt(stored, key)

    def get(self, record_id: str, version: int | None = None) -> StoredRecord:
        with self.db.reading() as connection:
            if version is None:
                found = connection.execute(_CURRENT_VERSION, {"record_id": record_id})
            else:
                found = connection.execute(_ONE_VERSION, {"record_id": record_id, "version": version})
            row = found.mappings().one_or_none()
        if row is None:
            raise NotFound(f"no record {record_id}" + (f" version {version}" if version else ""))
        return self._stored(row)

    def anchored(self, versions: Sequence[StoredRecord]) -> list[AnchoredVersion]:
        """Each version's ciphertext with what proves it: salt, commitment, Merkle proof and anchored root.

        For sharing: the receiver checks all of it against the chain. Versions must be anchored.
        """
        wanted = {(s.record_id, s.version) for s in versions}
        with self.db.reading() as connection:
            rows = connection.execute(
                select(
                    _COLUMNS.record_id,
                    _COLUMNS.version,
                    _COLUMNS.salt,
                    _COLUMNS.commitment,
                    _COLUMNS.proof,
                    AnchorBatch.root,
                )
                .join(AnchorBatch, AnchorBatch.id == _COLUMNS.batch_id)
                .where(_one_of(_COLUMNS.record_id, {record_id for record_id, _ in wanted}))
            ).all()
        by_key = {(row.record_id, row.version): row for row in rows}
        anchored = []
        for stored in versions:
            row = by_key.get((stored.record_id, stored.version))
            if row is None:
                raise NotFound(
                    f"{stored.resource_type}/{stored.record_id} version {stored.version} is not anchored yet"
                )
            anchored.append(
                AnchoredVersion(
                    stored,
                    self.blobs.get(stored.cid or ""),
                    bytes(row.salt),
                    bytes(row.commitment),
                    tuple(bytes.fromhex(node) for node in json.loads(row.proof or "[]")),
                    bytes(row.root),
                )
            )
        return anchored

    def commitment_of(self, stored: StoredRecord) -> bytes:
        """The salted commitment of one version: what other contracts (a claim) refer to it by."""
        query = select(_COLUMNS.commitment).where(
            _COLUMNS.record_id == stored.record_id, _COLUMNS.version == stored.version
        )
        with self.db.reading() as connection:
            return bytes(connection.execute(query).scalar_one())

    def history(self, record_id: str) -> list[StoredRecord]:
        """Every version, newest first (FHIR `_history` order)."""
        query = select(*_STORED_COLUMNS).where(_COLUMNS.record_id == record_id).order_by(_COLUMNS.version.desc())
        with self.db.reading() as connection:
            rows = connection.execute(query).mappings().all()
        if not rows:
            raise NotFound(f"no record {record_id}")
        return [self._stored(row) for row in rows]

    def search(self, query: SearchQuery) -> list[StoredRecord]:
        """Current, undeleted records matching `query`, in its order (from the index, nothing decrypted)."""
        with self.db.reading() as connection:
            rows = connection.execute(search_statement(query, _STORED_COLUMNS, self.index)).mappings()
            return [self._stored(row) for row in rows]

    def versions(
        self, resource_type: str, *, patient_address: str | None = None, limit: int = 100
    ) -> list[StoredRecord]:
        """The newest `limit` versions of every record of a type (FHIR type `_history`), deletions included."""
        query = select(*_STORED_COLUMNS).where(_COLUMNS.resource_type == resource_type)
        if patient_address is not None:
            query = query.where(_COLUMNS.patient_address == patient_address)
        query = query.order_by(_COLUMNS.last_updated.desc(), _COLUMNS.record_id, _COLUMNS.version.desc()).limit(limit)
        with self.db.reading() as connection:
            return [self._stored(row) for row in connection.execute(query).mappings()]

    def list(self, **criteria: str | None) -> list[StoredRecord]:
        """Current, undeleted records, oldest first, by `SearchQuery` fields (type, ids, owner)."""
        return self.search(SearchQuery(**criteria))  # type: ignore[arg-type]

    def _stored(self, row: Mapping[Any, Any]) -> StoredRecord:
        """A version read from the database, its category read from its tag."""
        return StoredRecord.of(row, self.index.category_of(row["record_id"], row["version"], row["category"]))

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A write transaction; two writers racing to the same new version is a `Conflict`."""
        try:
            with self.db.session() as session:
                yield session
        except DBIntegrityError as exc:
            raise Conflict(f"a record was changed by another writer at the same time; retry ({exc.orig})") from None


def _owner(
    data: Resource, current: StoredRecord | None, given: str | None, known: dict[str, StoredRecord], custodian: str
) -> tuple[str | None, str]:
    """The FHIR Patient id and the patient's address a resource belongs to (outside the compartment: the node's)."""
    if not in_patient_compartment(data["resourceType"]):
        return None, custodian
    if data["resourceType"] == "Patient":
        address = given or (current.patient_address if current else None) or wallet_identifier(data)
        if address is None:
            raise ValidationError(
                "a Patient needs the patient's wallet: an identifier did:pkh:eip155:<chain id>:<address>"
                " (system urn:ietf:rfc:3986)"
            )
        return str(data["id"]), address
    patient_id = patient_reference(data)
    if patient_id is None:
        if given is None:
            raise ValidationError(
                f"{data['resourceType']} names no Patient (subject, patient or beneficiary) it is about"
            )
        return None, given
    patient = known.get(patient_id)
    if patient is None and given is not None:
        # A record fetched from another node: its owner is bound into its commitment, and
        # the Patient resource itself stays with the custodian unless it was shared too.
        return patient_id, given
    if patient is None or patient.resource_type != "Patient":
        raise ValidationError(f"{data['resourceType']} refers to Patient/{patient_id}, which this node does not hold")
    if given is not None and given != patient.patient_address:
        raise ValidationError(f"Patient/{patient_id} belongs to {patient.patient_address}, not {given}")
    return patient_id, patient.patient_address


def _one_of(column: ColumnElement[str], values: set[str]) -> ColumnElement[bool]:
    """`column IN values`, or `column = value` for one: an expanding IN is rendered anew on every
    execution (~0.1 ms in SQLAlchemy), a plain comparison is compiled once and cached."""
    if len(values) == 1:
        return column == next(iter(values))
    return column.in_(values)


def _current_versions(
    session: Session | Connection, record_ids: set[str], read: Callable[[Mapping[Any, Any]], StoredRecord]
) -> dict[str, StoredRecord]:
    rows = session.execute(
        select(*_STORED_COLUMNS).where(_one_of(_COLUMNS.record_id, record_ids), _COLUMNS.is_current)
    ).mappings()
    return {row["record_id"]: read(row) for row in rows}


def _version_row(
    resource_type: str,
    patient_id: str | None,
    context: RecordContext,
    now: datetime,
    *,
    cid: str | None,
    sealed_keys: Sequence[SealedKey] | None,
    author: str | None,
    index: BlindIndex,
) -> dict[str, Any]:
    """The values of one new version row, its salted commitment included."""
    salt = os.urandom(32)
    return {
        "record_id": context.record_id,
        "version": context.version,
        "resource_type": resource_type,
        "patient_id": patient_id,
        "patient_address": context.patient,
        "category": index.category_tag(context.record_id, context.version, Category(context.category)),
        "cid": cid,
        "sealed_keys": None if sealed_keys is None else json.dumps([key.to_bytes().hex() for key in sealed_keys]),
        "salt": salt,
        "commitment": commitment(
            salt=salt, cid=cid or "", patient=context.patient, resource_type=resource_type, version=context.version
        ),
        "last_updated": now,
        "deleted": sealed_keys is None,
        "is_current": True,
        "batch_id": None,
        "leaf_index": None,
        "proof": None,
        "author": author,
    }


def _persist(
    session: Session,
    rows: Sequence[dict[str, Any]],
    current_data: dict[str, Resource],
    replaced: set[str],
    index: BlindIndex,
) -> None:
    """New versions (the last of each record current), and the search tokens of the current data.

    `replaced` are the records that had a current version when the writer looked: theirs is
    retired and their tokens dropped. A record created meanwhile by another writer makes
    the insert collide on (record_id, version), so skipping this for new records loses nothing.
    """
    if not rows:
        return
    last_version = {row["record_id"]: row["version"] for row in rows}
    for row in rows:
        row["is_current"] = row["version"] == last_version[row["record_id"]]
    if replaced:
        session.execute(
            update(RECORD_VERSIONS)
            .where(_one_of(_COLUMNS.record_id, replaced), _COLUMNS.is_current)
            .values(is_current=False)
        )
        session.execute(delete(RECORD_TOKENS).where(_one_of(RECORD_TOKENS.c.record_id, replaced)))
    session.execute(insert(RECORD_VERSIONS), rows)
    current = [row for row in rows if row["is_current"] and not row["deleted"]]
    token_rows = [
        term
        for row in current
        for term in _token_rows(
            row["record_id"], row["resource_type"], row["patient_id"], current_data[row["record_id"]], index
        )
    ]
    if token_rows:
        session.execute(insert(RECORD_TOKENS), token_rows)


def _token_rows(
    record_id: str, resource_type: str, patient_id: str | None, data: Resource, index: BlindIndex
) -> Iterator[dict[str, Any]]:
    """The `record_tokens` rows of one current version: its search tokens, as blind-index hashes."""
    for term in blind_terms(tokens(data), index):
        yield {"record_id": record_id, "resource_type": resource_type, "patient_id": patient_id, **term}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
