"""The append-only, hash-chained audit log, and its verification against the chain.

Each entry's hash is `keccak256(prev_hash ‖ canonical JSON of its AuditEvent)`, the first
entry's `prev_hash` being 32 zero bytes; `prev_hash` is unique in the table, so two writers
can never fork the chain (the loser retries on the new head). Heads are anchored on chain
(RecordAnchor, kind AUDIT) by the node: editing, deleting or reordering an entry breaks
the chain of hashes, and rewriting every hash after an edit no longer matches the anchored
heads. What no log can show is a tail written since the last anchor and then cut off;
anchoring often (`anchor_max_wait`) keeps that window short.

The event text is stored sealed (AES-256-GCM under the node's `audit.key`, kept out of the
database, bound to the entry's number): a denial's reason or a break-glass justification
names categories and circumstances, and a copied database file must not show them beside
the patient's address. The hashes are over the plaintext, so sealing changes no hash, and
logs written before sealing are sealed in place when the node opens them (`seal_plaintext`).
Text an entry holds that another table keeps too (a break-glass reason) is sealed there the same
way (`seal_copy`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from careledger import request_context
from careledger._group_commit import GroupCommit
from careledger.audit._events import Access, access_of, audit_event
from careledger.chain import AnchorKind, RecordAnchor
from careledger.crypto import AtRestKey, canonical_json, keccak
from careledger.errors import ChainError, DecryptionError
from careledger.store import AUDIT_EVENTS, AnchorBatch, Database, NodeState

GENESIS = bytes(32)
_COLUMNS = AUDIT_EVENTS.c
_RETRIES = 20
_VERIFY_CHUNK = 5_000
_SEALED = "sealed:"  # the prefix of sealed event text; text written before sealing is bare JSON
_AAD = b"careledger/audit-event/v1\x00"
_COPY_AAD = b"careledger/audit-copy/v1\x00"  # text an entry holds, kept sealed elsewhere (`seal_copy`)
_HEAD_LOCK = 0x4341_5245_4C41  # the advisory lock that serialises writers of the head ("CARELA")
_log = logging.getLogger("careledger.audit")
# PostgreSQL: one writer of the head at a time, until its COMMIT.
_HEAD_LOCK_STATEMENT = text("SELECT pg_advisory_xact_lock(:key)")
# `_append_direct`'s statements, as psycopg takes them (the table's columns, from its SQLAlchemy definition).
_LOCK_SQL = str(_HEAD_LOCK_STATEMENT.compile(dialect=postgresql.dialect()))
_NEWEST = select(_COLUMNS.seq, _COLUMNS.hash).order_by(_COLUMNS.seq.desc()).limit(1)
_LAST_SQL = str(_NEWEST.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
_INSERT_SQL = str(insert(AUDIT_EVENTS).compile(dialect=postgresql.dialect()))

LATER_SECONDS = 0.25  # how long what `record_later` is handed waits before it is done and written

_Item = tuple[Access, datetime, dict[str, Any]]
_Later = Sequence[Access] | Callable[[], Sequence[Access]]  # entries, or the work that finds them
_Handed = tuple[_Later, str | None]  # …and the request they were handed over in
_Row = tuple[int, datetime, str | None, str, str, bytes, bytes]  # seq, recorded_at, patient, agent, text, hashes


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit entry as listed: its place in the log, time, and what happened."""

    seq: int
    recorded_at: datetime
    access: Access
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What `verify` found: how much it checked, and every problem."""

    entries: int
    anchored_heads: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the log verified with no problem."""
        return not self.problems


def entry_hash(prev_hash: bytes, event: dict[str, Any]) -> bytes:
    """The hash that chains an entry: keccak of the previous hash and the event's canonical JSON."""
    return keccak(prev_hash + canonical_json(event))


class AuditLog:
    """Writes and reads the audit log of one node."""

    def __init__(
        self,
        db: Database,
        *,
        key: AtRestKey,
        observer: str,
        chain_id: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self._key = key
        self.observer = observer
        self.chain_id = chain_id
        self._clock = clock
        self._head: tuple[int, bytes] | None = None  # (seq, hash) of the newest entry this process saw
        self._commits: GroupCommit[_Item, int] = GroupCommit(self._append, name="careledger-audit")
        self._later: list[_Handed] = []
        self._later_lock = threading.Lock()  # guards `_later` and `_later_due`
        self._later_writer = threading.Lock()  # held while what was handed over is being written
        self._later_due: threading.Timer | None = None

    def record(self, access: Access) -> int:
        """Append one entry, durably (committed with any others written at the same moment); its number."""
        return self._commits.submit(self._item(access))

    def record_all(self, accesses: Sequence[Access]) -> list[int]:
        """Append several entries durably in one commit; their numbers."""
        return self._commits.submit_all([self._item(access) for access in accesses])

    def record_later(self, accesses: _Later) -> None:
        """Hand entries, or the work that finds them, to a thread that writes them `LATER_SECONDS` from now, and
        return at once: for what the caller withheld, whose audit must not make the answer slower than one
        that withheld nothing (a timing oracle otherwise). Written at once, they would take the processor while
        that very answer is being written out; later, in a batch, they fall on whatever runs then, and the
        work runs before the log's writer lock is taken, so no one waiting to write an entry waits for it.
        `entries()` writes what is pending first. Work that fails is logged and audits nothing."""
        with self._later_lock:
            self._later.append((accesses, _request_id()))
            if self._later_due is None:
                self._later_due = threading.Timer(LATER_SECONDS, self.flush)
                self._later_due.start()

    def flush(self) -> None:
        """Do the work handed over and write what it found, in one commit (the timer's turn, a reader's, or the
        node's as it closes)."""
        with self._later_writer:
            with self._later_lock:
                pending, self._later = self._later, []
                if self._later_due is not None:
                    self._later_due.cancel()  # a no-op from the timer's own thread
                self._later_due = None
            found = [self._entry(access, request) for accesses, request in pending for access in _found(accesses)]
            try:
                self._commits.submit_all(found)
            except Exception:
                _log.exception("%d audit entries handed over without waiting were not written", len(found))

    async def record_async(self, access: Access) -> int:
        """`record` from an event loop (the API): committed by the log's committer thread, grouped likewise."""
        return await self._commits.submit_async(self._item(access))

    def _item(self, access: Access) -> _Item:
        """An entry to write: `access` now, made in the request being served here (if any)."""
        return self._entry(access, _request_id())

    def _entry(self, access: Access, request: str | None) -> _Item:
        """An entry to write: `access` now, made in the request with id `request` (None: the node's own work)."""
        now = self._clock()
        return access, now, audit_event(access, now, observer=self.observer, chain_id=self.chain_id, request=request)

    def append(self, session: Session, accesses: Sequence[Access]) -> list[int]:
        """Chain entries into the caller's transaction: the change they record and they commit together, or neither;
        their numbers (which the change may keep, to name the entry that records it)."""
        if not accesses:
            return []
        connection = session.connection()
        self._lock_head(connection)
        self._head = None  # moved by a transaction the log does not see commit: read afresh next time
        (last_seq, _), rows = self._chained(_last(connection), [self._item(access) for access in accesses])
        connection.execute(insert(AUDIT_EVENTS), rows)
        return list(range(last_seq - len(accesses) + 1, last_seq + 1))

    def _append(self, items: Sequence[_Item]) -> list[int]:
        """Chain and insert a group of entries in one transaction; their numbers. After a transaction that failed
        (a head another writer moved, a connection lost at COMMIT) the head is read afresh, never assumed."""
        for _ in range(_RETRIES):
            try:
                head = self._append_direct(items) if self.db.backend == "postgresql" else self._append_core(items)
            except DBIntegrityError:
                self._head = None  # another writer moved the head: read it again
                continue
            except BaseException:
                self._head = None
                raise
            return list(range(head[0] - len(items) + 1, head[0] + 1))
        raise ChainError("the audit log's head kept moving; too many writers at once")

    def _append_core(self, items: Sequence[_Item]) -> tuple[int, bytes]:
        """`_append`'s transaction through SQLAlchemy (SQLite: one writer at a time); the new head."""
        with self.db.writing() as connection:
            head, rows = self._chained(self._head or _last(connection), items)
            connection.execute(insert(AUDIT_EVENTS), rows)
            self._head = head  # before COMMIT frees the lock, after which an `append` may clear it
        return head

    def _append_direct(self, items: Sequence[_Item]) -> tuple[int, bytes]:
        """`_append`'s transaction on PostgreSQL in one round trip when the head is known: BEGIN, the head's lock,
        the rows and COMMIT, pipelined. An API read waits for its entry before it is answered, so these round
        trips are the request's own. A head another writer moved makes the insert collide on `seq`; `_append`
        then reads it again."""
        with self.db.driver(autocommit=False) as driver, driver.pipeline(), driver.transaction():
            driver.execute(_LOCK_SQL, {"key": _HEAD_LOCK})
            head = self._head
            if head is None:
                found = driver.execute(_LAST_SQL).fetchone()
                head = (int(found[0]), bytes(found[1])) if found is not None else (0, GENESIS)
            head, rows = self._chained(head, items)
            with driver.cursor() as cursor:
                cursor.executemany(_INSERT_SQL, rows)
            self._head = head  # before COMMIT frees the lock, after which an `append` may clear it
        return head

    def _chained(
        self, head: tuple[int, bytes], items: Sequence[_Item]
    ) -> tuple[tuple[int, bytes], list[dict[str, Any]]]:
        """The rows of `items` chained after `head`, and the new head."""
        last_seq, prev = head
        rows: list[dict[str, Any]] = []
        for access, now, event in items:
            canonical = canonical_json(event)
            digest = keccak(prev + canonical)
            last_seq += 1
            rows.append(
                {
                    # Numbered here, not by the database: a sequence skips the
                    # numbers of failed inserts, and a gap must mean a deletion.
                    "seq": last_seq,
                    "recorded_at": now,
                    "patient": access.patient,
                    "agent": access.agent,
                    "event": self._seal(last_seq, canonical),
                    "prev_hash": prev,
                    "hash": digest,
                    "batch_id": None,
                }
            )
            prev = digest
        return (last_seq, prev), rows

    def _lock_head(self, connection: Connection) -> None:
        """On PostgreSQL, one writer at a time holds the head until it commits (SQLite has one writer anyway)."""
        if self.db.backend == "postgresql":
            connection.execute(_HEAD_LOCK_STATEMENT, {"key": _HEAD_LOCK})

    def entries(
        self,
        *,
        patient: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Entry]:
        """Entries oldest (or newest) first, of one patient's records and/or by one agent; at most `limit` after
        `offset`. What was handed over without waiting is committed first, so a reader here sees it."""
        self.flush()
        order = _COLUMNS.seq.desc() if newest_first else _COLUMNS.seq
        query = select(_COLUMNS.seq, _COLUMNS.recorded_at, _COLUMNS.event).order_by(order)
        query = query.offset(offset or None).limit(limit)
        if patient is not None:
            query = query.where(_COLUMNS.patient == patient)
        if agent is not None:
            query = query.where(_COLUMNS.agent == agent)
        with self.db.reading() as connection:
            rows = connection.execute(query).all()
        entries = []
        for seq, recorded_at, raw in rows:
            event = self._open(seq, raw)
            entries.append(Entry(seq, recorded_at.replace(tzinfo=recorded_at.tzinfo or UTC), access_of(event), event))
        return entries

    def patients(self) -> frozenset[str]:
        """Every patient the log has an entry about: those whose records this node holds, or held, or was asked
        for."""
        with self.db.reading() as connection:
            found = connection.execute(select(_COLUMNS.patient).where(_COLUMNS.patient.is_not(None)).distinct())
            return frozenset(str(patient) for patient in found.scalars())

    def verify(self, anchor: RecordAnchor | None) -> AuditReport:
        """Recompute the hash chain and check every anchored head, against the chain itself when given."""
        problems: list[str] = []
        hashes: dict[bytes, int] = {}
        count = 0
        for seq, digest, _ in self._checked(self._rows(), (1, GENESIS), problems):
            count += 1
            hashes[digest] = seq
        heads = self._anchored_heads(anchor, problems)
        for head in heads:
            if head not in hashes:
                problems.append(f"anchored head 0x{head.hex()[:16]}… is not in the log: entries were rewritten or cut")
        return AuditReport(count, len(heads), tuple(problems))

    def read(self, since: datetime, until: datetime, problems: list[str]) -> Iterator[Entry]:
        """The entries recorded from `since` until before `until`, oldest first, a chunk at a time, each opened
        once (a report over a busy month holds one chunk, not the month). Each is checked against the entry before
        it as `verify` checks it (the first against the last before `since`), what is wrong added to `problems`;
        one whose text does not open is not yielded."""
        self.flush()
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        with self.db.reading() as connection:
            first, last = connection.execute(
                select(func.min(_COLUMNS.seq), func.max(_COLUMNS.seq)).where(
                    _COLUMNS.recorded_at >= since, _COLUMNS.recorded_at < until
                )
            ).one()
            if first is None:
                return
            before = _last(connection, before=int(first))
        for _, _, entry in self._checked(self._rows(int(first) - 1, int(last)), (before[0] + 1, before[1]), problems):
            if entry is not None and since <= entry.recorded_at < until:
                yield entry

    def _checked(
        self, rows: Iterator[_Row], expected: tuple[int, bytes], problems: list[str]
    ) -> Iterator[tuple[int, bytes, Entry | None]]:
        """Each row's number, hash and entry (None if its text does not open), checked against the row before it
        (`expected`: the number and hash the first must follow); what is wrong is added to `problems`."""
        expected_seq, prev = expected
        for seq, recorded_at, patient, agent, raw, prev_hash, digest in rows:
            if seq != expected_seq:
                problems.append(f"entries {expected_seq}..{seq - 1} are missing")
            if prev_hash != prev:
                problems.append(f"entry {seq} does not follow the entry before it (its prev_hash differs)")
            expected_seq, prev = seq + 1, digest
            try:
                plaintext = self._plaintext(seq, raw)
            except DecryptionError:
                problems.append(f"entry {seq}'s sealed text does not open: it was changed or moved")
                yield seq, digest, None
                continue
            event = dict(json.loads(plaintext))
            # The text is stored as it was hashed: only text written otherwise is made canonical again to check.
            if keccak(prev_hash + plaintext) != digest and entry_hash(prev_hash, event) != digest:
                problems.append(f"entry {seq} was changed after it was written (its hash differs)")
            access = access_of(event)
            if (access.patient, access.agent) != (patient, agent):
                problems.append(f"entry {seq}'s patient or agent column differs from its event")
            yield seq, digest, Entry(seq, recorded_at.replace(tzinfo=recorded_at.tzinfo or UTC), access, event)

    def seal_plaintext(self) -> int:
        """Seal the text of entries written before the log sealed it; how many there were.

        Runs once per database (migration 0007 marks one with entries `pending`). Their
        hashes stay as they are (they are over the plaintext), so the chain and the anchored
        heads still verify. One transaction: a crash leaves the plaintext, sealed next time.
        """
        with self.db.reading() as connection:
            state = connection.execute(select(NodeState.value).where(NodeState.name == "sealed_audit")).scalar()
        if state != "pending":
            return 0
        sealed = 0
        with self.db.writing() as connection:
            for seq, raw in connection.execute(
                select(_COLUMNS.seq, _COLUMNS.event).where(_COLUMNS.event.not_like(f"{_SEALED}%"))
            ).all():
                connection.execute(
                    update(AUDIT_EVENTS).where(_COLUMNS.seq == seq).values(event=self._seal(seq, raw.encode()))
                )
                sealed += 1
            connection.execute(update(NodeState).where(NodeState.name == "sealed_audit").values(value="done"))
        return sealed

    def seal_copy(self, text: str, place: bytes) -> str:
        """`text`, which an entry also holds, sealed as the log seals its own (its key) to be kept at `place` in
        another table (a break-glass reason beside its window), so a copied database file shows it no more than the
        log; sealed to `place`, so a value moved elsewhere does not open."""
        return self._sealed(text.encode(), _COPY_AAD + place)

    def open_copy(self, stored: str, place: bytes) -> str:
        """The text `seal_copy` sealed for `place` (text stored before copies were sealed, as it is);
        `DecryptionError` if it does not open: changed, or moved from elsewhere."""
        return self._opened(stored, _COPY_AAD + place, "a sealed copy of audit text").decode()

    def _seal(self, seq: int, plaintext: bytes) -> str:
        return self._sealed(plaintext, _AAD + str(seq).encode())

    def _sealed(self, plaintext: bytes, aad: bytes) -> str:
        return _SEALED + base64.b64encode(self._key.seal(plaintext, aad)).decode()

    def _open(self, seq: int, raw: str) -> dict[str, Any]:
        """The event of entry `seq` from its stored text; `DecryptionError` if it does not open."""
        return dict(json.loads(self._plaintext(seq, raw)))

    def _plaintext(self, seq: int, raw: str) -> bytes:
        """The event's text of entry `seq` from its stored text; `DecryptionError` if it does not open."""
        return self._opened(raw, _AAD + str(seq).encode(), f"audit entry {seq}'s sealed text")

    def _opened(self, raw: str, aad: bytes, what: str) -> bytes:
        if not raw.startswith(_SEALED):
            return raw.encode()  # written before sealing, and not yet sealed in place
        try:
            sealed = base64.b64decode(raw[len(_SEALED) :], validate=True)
        except binascii.Error:
            raise DecryptionError(f"{what} is not base64") from None
        return self._key.open(sealed, aad)

    def _rows(self, after: int = 0, through: int | None = None) -> Iterator[_Row]:
        """The entries numbered after `after` (through `through`, if given) in order, read a chunk at a time."""
        columns = (
            _COLUMNS.seq,
            _COLUMNS.recorded_at,
            _COLUMNS.patient,
            _COLUMNS.agent,
            _COLUMNS.event,
            _COLUMNS.prev_hash,
            _COLUMNS.hash,
        )
        while True:
            query = select(*columns).where(_COLUMNS.seq > after).order_by(_COLUMNS.seq).limit(_VERIFY_CHUNK)
            if through is not None:
                query = query.where(_COLUMNS.seq <= through)
            with self.db.reading() as connection:
                rows = connection.execute(query).all()
            if not rows:
                return
            for seq, recorded_at, patient, agent, raw, prev_hash, digest in rows:
                yield int(seq), recorded_at, patient, agent, raw, bytes(prev_hash), bytes(digest)
            after = int(rows[-1][0])

    def _anchored_heads(self, anchor: RecordAnchor | None, problems: list[str]) -> list[bytes]:
        """The heads anchored for this log: read from the chain's events when it can be asked."""
        with self.db.session() as session:
            recorded = [
                bytes(root)
                for root in session.scalars(
                    select(AnchorBatch.root).where(
                        AnchorBatch.kind == int(AnchorKind.AUDIT), AnchorBatch.status == "anchored"
                    )
                )
            ]
        if anchor is None:
            return recorded
        on_chain = anchor.anchored_roots(kind=AnchorKind.AUDIT, anchorer=self.observer)
        for root in recorded:
            if root not in on_chain:
                problems.append(f"head 0x{root.hex()[:16]}… is marked anchored here but is not on chain")
        return on_chain


def _found(accesses: _Later) -> Sequence[Access]:
    """The entries handed over, or what the work handed over found: nothing if it failed (logged), so that it
    fails none of the others."""
    if not callable(accesses):
        return accesses
    try:
        return accesses()
    except Exception:
        _log.exception("audit work handed over without waiting failed; its entries are not written")
        return []


def _request_id() -> str | None:
    """The id of the request being served here, None in the node's own work."""
    served = request_context.current()
    return served.id if served is not None else None


def _last(session: Session | Connection, *, before: int | None = None) -> tuple[int, bytes]:
    """The newest entry's sequence number and hash (0 and the genesis hash in an empty log); of those numbered
    before `before`, if given."""
    query = _NEWEST
    if before is not None:
        query = query.where(_COLUMNS.seq < before)
    last = session.execute(query).first()
    return (int(last[0]), bytes(last[1])) if last is not None else (0, GENESIS)
