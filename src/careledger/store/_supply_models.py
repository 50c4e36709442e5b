"""The tables of the drug supply chain (careledger.supplychain): the EPCIS events this node captured, their EPCs,
the capture jobs, local flags on packs, and the dispenses of packs. Apart from `models.py`, which is at the house's
size limit; importing the `store` package registers them on the same `Base`, so Alembic and the checks see them.

Nothing here names a patient: an event names packs, containers and parties (node addresses); a dispense names
the pack and the record id of its MedicationDispense, which only this node can open. How far the node has
followed the chain's recalls is an `EventCursor` (stream `supply-recalls`), as every other chain reader's is.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from careledger.store.models import Base


class SupplyEvent(Base):
    """One EPCIS 2.0 event as captured: its body byte for byte (JSON, with its `careledger:signer` and
    `careledger:signature`), the columns the EPCIS query filters on, its digest (what is anchored, in batch
    `batch_id` at `leaf_index` with the Merkle `proof`), and what it did on chain (`effect`): `chain` (this node
    sent its custody step, in transactions `txs`), `observation` (the chain knows none of its EPCs, or its step has
    no chain effect: kept as told), `foreign` (signed by another party, whose own node sends its step)."""

    __tablename__ = "supply_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(32), index=True)
    biz_step: Mapped[str | None] = mapped_column(String(255), index=True)  # CBV's bare word, else the URI as given
    disposition: Mapped[str | None] = mapped_column(String(255), index=True)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    record_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # SHA-256 of its RFC 8785 form, unsigned
    signer: Mapped[str] = mapped_column(String(42), index=True)
    capture_id: Mapped[str] = mapped_column(String(36), index=True)
    effect: Mapped[str] = mapped_column(String(16))
    txs: Mapped[str | None] = mapped_column(Text)  # JSON list of the transactions of its chain effect
    body: Mapped[str] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    proof: Mapped[str | None] = mapped_column(Text)  # JSON list of the Merkle siblings, 0x-hex


class SupplyEventEpc(Base):
    """An EPC an event names, in the EPCIS query's roles: `epc` (epcList, childEPCs), `parent` (parentID),
    `input`, `output` (a transformation's), and `desadv`: the despatch advice (shipment) it ships or receives.
    GS1 EPCs are kept in their Digital Link form, whatever form the event wrote them in, so a pack is found however
    it was named, and with their key on chain (`key`), so a trace finds the events of the containers the chain
    says a pack travelled in."""

    __tablename__ = "supply_event_epcs"

    seq: Mapped[int] = mapped_column(ForeignKey("supply_events.seq"), primary_key=True, autoincrement=False)
    epc: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)


class SupplyCapture(Base):
    """A capture job (EPCIS `POST /capture`): its state (`success` or `failure`, all or nothing), the ids of the
    events of its document, and on failure the errors, each naming its event (JSON)."""

    __tablename__ = "supply_captures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    agent: Mapped[str] = mapped_column(String(42))
    state: Mapped[str] = mapped_column(String(16))
    event_count: Mapped[int] = mapped_column(Integer)
    event_ids: Mapped[str] = mapped_column(Text)  # JSON list
    errors: Mapped[str] = mapped_column(Text)  # JSON list of "<eventID>: <why>" strings, one a refused event


class SupplyFlag(Base):
    """A local flag on a pack (`key`) or on every pack of a lot (`lot`): `recalled` (its lot was recalled on chain)
    or `quarantined` (staff set it aside as suspect), with why and since when; `cleared` once lifted."""

    __tablename__ = "supply_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    lot: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cleared: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SupplyDispense(Base):
    """A pack this node dispensed (a pack is dispensed once): its lot, the record id of the patient's
    MedicationDispense (never a name), when, and the dispensing event captured for it (None: not yet, retried)."""

    __tablename__ = "supply_dispenses"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    lot: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    record_id: Mapped[str] = mapped_column(String(64))
    dispensed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str | None] = mapped_column(String(255))


SUPPLY_EVENTS = cast("Table", SupplyEvent.__table__)
SUPPLY_EVENT_EPCS = cast("Table", SupplyEventEpc.__table__)
