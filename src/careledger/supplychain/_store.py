"""The supply chain's rows: capture jobs, captured events with their EPCs, and each event's anchor.

A capture is stored in one database transaction (its job, its events, their EPCs), so a document is all there or
not at all, however many events and EPCs it holds (1,000 commissioned packs: one event, 1,000 EPC rows, one
commit). Event bodies are kept as captured (the same JSON values: their RFC 8785 digests, and so their signatures, stay
checkable).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from careledger.errors import NotFound
from careledger.store import SUPPLY_EVENT_EPCS, SUPPLY_EVENTS, AnchorBatch, Database, SupplyCapture
from careledger.supplychain._query import EventPage, EventQuery

SUCCESS = "success"
FAILURE = "failure"

_EVENTS = SUPPLY_EVENTS.c
_EPCS = SUPPLY_EVENT_EPCS.c


@dataclass(frozen=True, slots=True)
class CaptureJob:
    """A capture as it ended: `success` (every event stored, its chain effects sent) or `failure` (`errors` says
    why, each naming its event: `"<eventID>: <reason>"`); `event_ids` are the events it stored: all of the
    document's, or none (a failure), unless the chain refused a step after taking those of the events before it."""

    id: str
    created: datetime
    finished: datetime
    state: str
    event_ids: tuple[str, ...]
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the capture succeeded."""
        return self.state == SUCCESS


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A checked event ready to store: the query's columns, its digest and signer, its EPCs by role, and what it did
    on chain (`effect`, in transactions `txs`)."""

    event_id: str
    event_type: str
    biz_step: str | None
    disposition: str | None
    event_time: datetime
    digest: bytes
    signer: str
    effect: str
    body: dict[str, Any]
    epcs: tuple[tuple[str, str, bytes | None], ...]  # (EPC, in its Digital Link form if it has one; role; chain key)
    txs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventAnchor:
    """Where an event's digest is anchored: its batch's root, leaf and Merkle siblings, and (once sent) the block;
    `anchored` False while the batch is prepared but not yet settled on chain."""

    root: bytes
    leaf_index: int
    siblings: tuple[bytes, ...]
    anchored: bool
    block: int | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A captured event as kept here, with its anchor (None: waiting for its batch)."""

    seq: int
    event_id: str
    body: dict[str, Any]
    digest: bytes
    signer: str
    effect: str
    txs: tuple[str, ...]
    record_time: datetime
    anchor: EventAnchor | None


def served(body: dict[str, Any], recorded: datetime) -> dict[str, Any]:
    """An event as this node serves it: as captured, with the time it recorded it (`recordTime`, which its digest
    and signature leave out, as EPCIS repositories set it)."""
    at = recorded.replace(tzinfo=recorded.tzinfo or UTC).astimezone(UTC)
    return {**body, "recordTime": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


class SupplyStore:
    """The rows of the node's supply chain, in its database."""

    def __init__(self, db: Database, clock: Any = None) -> None:
        self.db = db
        self._clock = clock or (lambda: datetime.now(UTC))

    def known(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids are stored already."""
        with self.db.reading() as connection:
            found = connection.execute(select(_EVENTS.event_id).where(_EVENTS.event_id.in_(event_ids)))
            return {str(event_id) for (event_id,) in found}

    def save(self, job: CaptureJob, events: Sequence[NewEvent], *, by: str) -> None:
        """The job and its events (none, for a failure), in one transaction."""
        recorded = self._clock().astimezone(UTC)
        with self.db.session() as session:
            session.add(
                SupplyCapture(
                    id=job.id,
                    created=job.created.astimezone(UTC),
                    finished=job.finished.astimezone(UTC),
                    agent=by,
                    state=job.state,
                    event_count=len(job.event_ids),
                    event_ids=json.dumps(list(job.event_ids)),
                    errors=json.dumps(list(job.errors)),
                )
            )
            connection = session.connection()
            for event in events:
                seq = _insert_event(connection, event, job.id, recorded)
                named = {(epc, role): key for epc, role, key in event.epcs}
                epcs = [{"seq": seq, "epc": epc, "role": role, "key": key} for (epc, role), key in named.items()]
                if epcs:
                    connection.execute(insert(SUPPLY_EVENT_EPCS), epcs)

    def job(self, capture_id: str) -> CaptureJob:
        """One capture job; `NotFound` for an id unknown here."""
        with self.db.session() as session:
            row = session.get(SupplyCapture, capture_id[:36])
            if row is None:
                raise NotFound(f"no capture job {capture_id[:60]!r} on this node")
            return _job(row)

    def jobs(self, limit: int = 100) -> list[CaptureJob]:
        """The newest capture jobs, newest first."""
        with self.db.session() as session:
            rows = session.scalars(select(SupplyCapture).order_by(SupplyCapture.created.desc()).limit(limit)).all()
            return [_job(row) for row in rows]

    def page(self, query: EventQuery) -> EventPage:
        """One page of the events `query` asks for, and the token of the next page while another follows."""
        with self.db.reading() as connection:
            rows = connection.execute(query.statement()).all()
        shown = rows[: query.per_page]
        token = query.next_token(int(shown[-1][0])) if len(rows) > query.per_page else None
        return EventPage([served(json.loads(body), recorded) for _, body, recorded in shown], token)

    def event(self, event_id: str) -> StoredEvent:
        """One stored event by its id; `NotFound` for one unknown here."""
        found = self._events(_EVENTS.event_id == event_id)
        if not found:
            raise NotFound(f"no event {event_id[:120]!r} on this node")
        return found[0]

    def naming(self, keys: Sequence[bytes]) -> list[StoredEvent]:
        """Every stored event that names a pack or container of these chain keys (in any role), in the order they
        were recorded."""
        named = select(_EPCS.seq).where(_EPCS.key.in_(keys))
        return self._events(_EVENTS.seq.in_(named))

    def shipment(self, reference: str) -> list[StoredEvent]:
        """Every stored event that names the shipment (despatch advice) `reference`, in the order recorded."""
        named = select(_EPCS.seq).where(_EPCS.epc == reference, _EPCS.role == "desadv")
        return self._events(_EVENTS.seq.in_(named))

    def _events(self, where: Any) -> list[StoredEvent]:
        columns = (_EVENTS.seq, _EVENTS.event_id, _EVENTS.body, _EVENTS.digest, _EVENTS.signer, _EVENTS.effect)
        query = (
            select(*columns, _EVENTS.txs, _EVENTS.record_time, _EVENTS.leaf_index, _EVENTS.proof)
            .add_columns(AnchorBatch.root, AnchorBatch.status, AnchorBatch.block)
            .outerjoin(AnchorBatch, AnchorBatch.id == _EVENTS.batch_id)
            .where(where)
            .order_by(_EVENTS.seq)
        )
        with self.db.reading() as connection:
            return [_stored(row) for row in connection.execute(query)]


def _insert_event(connection: Connection, event: NewEvent, capture_id: str, recorded: datetime) -> int:
    result = connection.execute(
        insert(SUPPLY_EVENTS).values(
            event_id=event.event_id,
            event_type=event.event_type,
            biz_step=event.biz_step,
            disposition=event.disposition,
            event_time=event.event_time.astimezone(UTC),
            record_time=recorded,
            digest=event.digest,
            signer=event.signer,
            capture_id=capture_id,
            effect=event.effect,
            txs=json.dumps(list(event.txs)) if event.txs else None,
            body=json.dumps(event.body, ensure_ascii=False, separators=(",", ":")),
        )
    )
    inserted = result.inserted_primary_key
    assert inserted is not None  # an INSERT of one row always has its key
    return int(inserted[0])


def _job(row: SupplyCapture) -> CaptureJob:
    return CaptureJob(
        id=row.id,
        created=row.created.replace(tzinfo=row.created.tzinfo or UTC),
        finished=row.finished.replace(tzinfo=row.finished.tzinfo or UTC),
        state=row.state,
        event_ids=tuple(json.loads(row.event_ids)),
        errors=tuple(json.loads(row.errors)),
    )


def _stored(row: Any) -> StoredEvent:
    seq, event_id, body, digest, signer, effect, txs, recorded, leaf_index, proof, root, status, block = row
    anchor = None
    if root is not None:
        siblings = tuple(bytes.fromhex(node.removeprefix("0x")) for node in json.loads(proof or "[]"))
        anchor = EventAnchor(bytes(root), int(leaf_index), siblings, status == "anchored", block)
    return StoredEvent(
        seq=int(seq),
        event_id=event_id,
        body=json.loads(body),
        digest=bytes(digest),
        signer=signer,
        effect=effect,
        txs=tuple(json.loads(txs)) if txs else (),
        record_time=recorded.replace(tzinfo=recorded.tzinfo or UTC),
        anchor=anchor,
    )
