"""The record service: write, read, version and delete encrypted FHIR records.

```
FHIR JSON ─validate─► meta.versionId/lastUpdated ─► canonical bytes ─seal (patient + node keys)─►
ciphertext ─► blob store (by CID) ─► version row + search tokens + salted commitment (queued to anchor)
```

Nothing is overwritten: an update is a new version, a delete a tombstone version. The blob is written
before the row, so a crash leaves at worst an unreferenced blob, never a row without its data. What a
version is bound to and who can open it is `_sealing`'s; this module keeps the order of the writes.

Whoever writes may pass a `check`, called with each record's current and new version before anything
is written (the access policy refuses there), and an `also`, called in the transaction that stores the
versions (the audit entry goes there, so a crash leaves both or neither). This module decides nothing
about who may write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from careledger._failpoints import crash_point
from careledger._group_commit import GroupCommit
from careledger.crypto import Envelope, PrivateKey, PublicKey, RecordContext
from careledger.errors import AccessDenied, CareLedgerError, Conflict, NotFound, UnknownRecord, ValidationError
from careledger.identity import CustodialIdentity, CustodialPatients
from careledger.records._blind_index import BlindIndex
from careledger.records._categories import Category
from careledger.records._erased import gone
from careledger.records._fhir import Resource, parse_resource, patient_reference
from careledger.records._lookup import VersionLookup
from careledger.records._matching import matches
from careledger.records._rows import current_versions, persist, proofs, records_about, token_rows, version_row
from careledger.records._sealing import NewVersion, RecordSealer
from careledger.records._search import SearchQuery, search_statement
from careledger.records._stored import (
    COLUMNS,
    CURRENT_VERSION,
    ONE_DRAFTS_FAULT,
    ONE_VERSION,
    STORED_COLUMNS,
    Also,
    AnchoredVersion,
    Draft,
    Guard,
    KeyResolver,
    StoredRecord,
    Write,
)
from careledger.store import RECORD_TOKENS, RECORD_VERSIONS, BlobStore, Database, NodeState

_PARALLEL_WRITES = 4  # groups of writes committed at once on PostgreSQL (SQLite has one writer)
# A `Guard` told which draft it sees: a group commit checks each writer's drafts with that writer's guard.
DraftGuard = Callable[[Draft, StoredRecord | None, StoredRecord], None]


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
        self.blobs = blobs
        self.index = index
        self._lookup = VersionLookup(db, (CURRENT_VERSION, ONE_VERSION))
        self.custodian = custodian  # the node's address: the owner of its resources outside any patient's compartment
        self._sealer = RecordSealer(custodian, custodian_public, custodian_key, patient_key, custodial)
        self._clock = clock
        # PostgreSQL takes concurrent writers: one group's fsyncs, chain registrations and round trips need not
        # hold up the next (the audit entries they carry still chain one at a time, under the log's lock).
        parallel = _PARALLEL_WRITES if db.backend == "postgresql" else 1
        self._writes: GroupCommit[Write, StoredRecord] = GroupCommit(
            self._store_group, name="careledger-records", parallel=parallel
        )

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
        return self._writes.submit(Write(draft, check, also))

    async def write_async(self, draft: Draft, *, check: Guard | None = None, also: Also | None = None) -> StoredRecord:
        """`write` from an event loop (the API): stored by the writes' committer thread, grouped likewise."""
        return await self._writes.submit_async(Write(draft, check, also))

    def _store_group(self, writes: Sequence[Write]) -> list[StoredRecord | CareLedgerError]:
        """Store a group of independent writes; if one cannot be stored, the others still are."""
        try:
            return list(self._store_writes(writes))
        except ONE_DRAFTS_FAULT:
            if len(writes) == 1:
                raise
        outcomes: list[StoredRecord | CareLedgerError] = []
        for write in writes:
            try:
                outcomes.extend(self._store_writes([write]))
            except ONE_DRAFTS_FAULT as exc:
                outcomes.append(exc)
        return outcomes

    def _store_writes(self, writes: Sequence[Write]) -> list[StoredRecord]:
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

    def _store(self, drafts: Sequence[Draft], check: DraftGuard | None, also: Also | None) -> list[StoredRecord]:
        referenced = {ref for draft in drafts if (ref := patient_reference(draft.data)) is not None}
        referenced |= {record_id for draft in drafts for _, record_id in records_about(draft.data)}
        # Read, seal and make the blobs durable before taking the database's write lock, so
        # other writers (the audit log) are not held up behind the fsyncs. A writer that
        # stores the same record meanwhile makes our insert collide on (record_id, version):
        # a `Conflict`, never a lost update.
        with self.db.reading() as connection:
            known = current_versions(connection, {draft.record_id for draft in drafts} | referenced, self._stored)
        replaced = {draft.record_id for draft in drafts if draft.record_id in known}
        identities = self._sealer.identities(drafts, known)
        try:
            now = self._clock()
            sealed = self._seal(drafts, known, identities, check, now)
            self._sealer.enrol(identities)  # every version passed its check: register them now
            return self._store_sealed(sealed, replaced, also)
        except BaseException:
            self._sealer.discard(identities)
            raise

    def _seal(
        self,
        drafts: Sequence[Draft],
        known: dict[str, StoredRecord],
        identities: dict[str, CustodialIdentity],
        check: DraftGuard | None,
        now: datetime,
    ) -> list[tuple[NewVersion, Envelope]]:
        """Each draft's next version, checked and then sealed, in order: `known` takes each one as it
        passes, so a later draft of the batch finds the Patient an earlier one stored. A draft about other
        records (a Provenance) is judged after the rest, so it finds its targets wherever the batch put them."""
        patient_keys: dict[str, PublicKey] = {}
        sealed: dict[int, tuple[NewVersion, Envelope]] = {}
        for at in sorted(range(len(drafts)), key=lambda at: bool(records_about(drafts[at].data))):
            draft = drafts[at]
            current = known.get(draft.record_id)
            version = self._sealer.new_version(draft, current, known, identities, now)
            new = StoredRecord.of(version.row(self.index, None, ()), Category(version.context.category))
            if check is not None:
                check(draft, current, new)
            if current is not None and current.patient_address != version.context.patient:
                raise AccessDenied(
                    f"{draft.record_id} is {current.patient_address}'s record; a new version cannot move it to another"
                    " patient (delete it and create one for the right patient)"
                )
            known[draft.record_id] = new
            sealed[at] = (version, self._sealer.seal(version, patient_keys))
        return [sealed[at] for at in range(len(drafts))]

    def _store_sealed(
        self, sealed: list[tuple[NewVersion, Envelope]], replaced: set[str], also: Also | None
    ) -> list[StoredRecord]:
        """Blobs, then rows: the blobs are durable before the rows that name them are committed."""
        cids = self.blobs.put_many([envelope.ciphertext for _, envelope in sealed])
        crash_point("record-blob-written")
        rows = [
            version.row(self.index, cid, envelope.sealed_keys)
            for (version, envelope), cid in zip(sealed, cids, strict=True)
        ]
        stored = [
            StoredRecord.of(row, Category(version.context.category))
            for row, (version, _) in zip(rows, sealed, strict=True)
        ]
        with self._transaction() as session:
            contents = {version.context.record_id: version.data for version, _ in sealed}
            persist(session, rows, contents, replaced, self.index)
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
            current = current_versions(session, {record_id}, self._stored).get(record_id)
            if current is None:
                raise UnknownRecord(record_id)
            if current.deleted:
                return current
            context = RecordContext(record_id, current.version + 1, current.patient_address, current.category.value)
            row = version_row(
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
            persist(session, [row], {}, {record_id}, self.index)
            if also is not None:
                also(session, [tombstone])
        return tombstone

    def reseal(self, patient_address: str, to: PublicKey, *, also: Callable[[Session], object] | None = None) -> int:
        """Seal every version of a patient's records to her new key `to`, in one transaction (with `also`).

        Each version keeps two readers: the node (whose sealed copy opens the data key) and the
        patient, whose copy is replaced. Ciphertexts, commitments and anchors do not change: only
        who can open the data key does. How many versions were re-sealed.
        """
        query = select(*STORED_COLUMNS).where(
            COLUMNS.patient_address == patient_address, COLUMNS.sealed_keys.is_not(None)
        )
        node_key = self._sealer.node_key()  # unlocked before the write lock is taken
        with self._transaction() as session:
            versions = [self._stored(row) for row in session.execute(query).mappings()]
            changes = [
                {"rid": stored.record_id, "ver": stored.version, "keys": self._sealer.resealed(stored, node_key, to)}
                for stored in versions
            ]
            if changes:
                statement = (
                    update(RECORD_VERSIONS)
                    .where(COLUMNS.record_id == bindparam("rid"), COLUMNS.version == bindparam("ver"))
                    .values(sealed_keys=bindparam("keys"))
                )
                session.execute(statement, changes)
            if also is not None:
                also(session)
        return len(changes)

    def upgrade_index(self) -> int:
        """Rebuild the tokens and category tags of a database a migration marked `pending`; how many versions moved.

        Runs once, in one transaction (a crash leaves the old index, tried again next
        time): each version's plaintext category becomes its tag, and every current
        record's tokens are recomputed from its decrypted content (so it needs the node's key).
        """
        with self.db.reading() as connection:
            state = connection.execute(select(NodeState.value).where(NodeState.name == "blind_index")).scalar()
        if state != "pending":
            return 0
        with self._transaction() as session:
            rows = session.execute(select(*STORED_COLUMNS, COLUMNS.is_current)).mappings().all()
            session.execute(delete(RECORD_TOKENS))
            terms: list[dict[str, Any]] = []
            for row in rows:
                stored = self._stored(row)
                tag = self.index.category_tag(stored.record_id, stored.version, stored.category)
                if tag != row["category"]:
                    session.execute(
                        update(RECORD_VERSIONS)
                        .where(COLUMNS.record_id == stored.record_id, COLUMNS.version == stored.version)
                        .values(category=tag)
                    )
                if row["is_current"] and not stored.deleted:
                    terms.extend(
                        token_rows(
                            stored.record_id, stored.resource_type, stored.patient_id, self.open(stored), self.index
                        )
                    )
            if terms:
                session.execute(insert(RECORD_TOKENS), terms)
            session.execute(update(NodeState).where(NodeState.name == "blind_index").values(value="done"))
        return len(rows)

    def read(self, record_id: str, version: int | None = None) -> Resource:
        """The decrypted resource (a version, or the current one)."""
        return self.open(self.get(record_id, version))

    def open(self, stored: StoredRecord) -> Resource:
        """A stored version decrypted with the node's key."""
        if stored.deleted:
            raise gone(self.db, stored)  # erased, or deleted in which version
        return self.decrypt(stored, self._sealer.node_key())

    def decrypt(self, stored: StoredRecord, key: PrivateKey) -> Resource:
        """Open a stored version with `key` (the node's, or the patient's for export)."""
        if stored.cid is None:
            raise NotFound(f"{stored.resource_type}/{stored.record_id} version {stored.version} is a deletion")
        return self._sealer.open(stored, self.blobs.get(stored.cid), key)

    def export(self, patient_address: str, key: PrivateKey) -> Iterator[Resource]:
        """Every current record of a patient, decrypted with `key` (data portability)."""
        for stored in self.list(patient_address=patient_address):
            yield self.decrypt(stored, key)

    def get(self, record_id: str, version: int | None = None) -> StoredRecord:
        """A stored version (the current one by default); `NotFound` if there is none."""
        if version is None:
            row = self._lookup.one(CURRENT_VERSION, {"record_id": record_id})
        else:
            row = self._lookup.one(ONE_VERSION, {"record_id": record_id, "version": version})
        if row is None:
            raise UnknownRecord(record_id, version)
        return self._stored(row)

    def anchored(self, versions: Sequence[StoredRecord]) -> list[AnchoredVersion]:
        """Each version's ciphertext with what proves it: salt, commitment, Merkle proof and anchored root.

        For sharing: the receiver checks all of it against the chain. Versions must be anchored.
        """
        with self.db.reading() as connection:
            by_key = proofs(connection, {s.record_id for s in versions})
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
        query = select(COLUMNS.commitment).where(
            COLUMNS.record_id == stored.record_id, COLUMNS.version == stored.version
        )
        with self.db.reading() as connection:
            return bytes(connection.execute(query).scalar_one())

    def history(self, record_id: str) -> list[StoredRecord]:
        """Every version, newest first (FHIR `_history` order)."""
        query = select(*STORED_COLUMNS).where(COLUMNS.record_id == record_id).order_by(COLUMNS.version.desc())
        with self.db.reading() as connection:
            rows = connection.execute(query).mappings().all()
        if not rows:
            raise UnknownRecord(record_id)
        return [self._stored(row) for row in rows]

    def search(self, query: SearchQuery, *, limit: int | None = None, offset: int = 0) -> list[StoredRecord]:
        """Current, undeleted records matching `query` (from the index; only a query's `checks` decrypt), in its
        column order; a page of at most `limit` of them after the first `offset`."""
        if query.chains or query.has:
            raise ValidationError("chained and _has parameters are resolved by the guarded repository first")
        statement = search_statement(query, STORED_COLUMNS, self.index)
        if not query.checks:
            statement = statement.offset(offset or None).limit(limit)
        with self.db.reading() as connection:
            found = [self._stored(row) for row in connection.execute(statement).mappings()]
        if query.checks:  # what the index only narrowed: decided on the decrypted candidates, then paged
            found = [s for s in found if matches(self.open(s), query.checks)][offset:][:limit]
        return found

    def versions(
        self, resource_type: str, *, patient_address: str | None = None, limit: int = 100
    ) -> list[StoredRecord]:
        """The newest `limit` versions of every record of a type (FHIR type `_history`), deletions included."""
        query = select(*STORED_COLUMNS).where(COLUMNS.resource_type == resource_type)
        if patient_address is not None:
            query = query.where(COLUMNS.patient_address == patient_address)
        query = query.order_by(COLUMNS.last_updated.desc(), COLUMNS.record_id, COLUMNS.version.desc()).limit(limit)
        with self.db.reading() as connection:
            return [self._stored(row) for row in connection.execute(query).mappings()]

    def list(self, *, limit: int | None = None, offset: int = 0, **criteria: str | None) -> list[StoredRecord]:
        """Current, undeleted records, oldest first, by `SearchQuery` fields (type, ids, owner); a page of at most
        `limit` after the first `offset`."""
        return self.search(SearchQuery(**criteria), limit=limit, offset=offset)  # type: ignore[arg-type]

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
