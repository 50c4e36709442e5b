"""The tables of erasure (careledger.erasure): what was erased, what legal holds keep, and whose erasure requests
went to which nodes. Apart from `models.py`, which is at the house's size limit; importing the `store` package
registers them on the same `Base`, so Alembic and the checks see them. None holds a record's content."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careledger.store.models import Base


class ErasedRecord(Base):
    """A record whose every version was erased here: its data keys, blobs and search tokens destroyed. Its version
    rows stay as markers (so a verification says "erased", not "tampered" or "unknown"); this row says when and
    at whose request."""

    __tablename__ = "erased_records"

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient: Mapped[str] = mapped_column(String(42), index=True)
    versions: Mapped[int] = mapped_column(Integer)
    request: Mapped[str] = mapped_column(String(66))  # the erasure request's id (its nonce, 0x and 64 hex digits)
    erased_at: Mapped[float] = mapped_column(Float)


class LegalHold(Base):
    """A legal hold staff placed on a patient's records (all of them, or one): while it is not lifted, erasure
    refuses what it covers, naming it."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient: Mapped[str] = mapped_column(String(42), index=True)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: every record of hers
    name: Mapped[str] = mapped_column(String(200))  # what a refusal says: "litigation 2026-114"
    placed_by: Mapped[str] = mapped_column(String(42))
    placed_at: Mapped[float] = mapped_column(Float)
    lifted_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    lifted_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class ErasureRequestRow(Base):
    """An erasure request this node carried out: hers, made here (`origin` is this node), or forwarded by the node
    she asked (`origin` that node). `signed` is her signed request as it travels, forwarded to the nodes that
    fetched copies; `outcome` what was erased and kept here (JSON of record ids and rules' names)."""

    __tablename__ = "erasure_requests"

    request_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    patient: Mapped[str] = mapped_column(String(42), index=True)
    origin: Mapped[str] = mapped_column(String(42))
    signed: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float)


class ErasurePeer(Base):
    """One node an erasure request was forwarded to, and what it answered: `waiting` (tried again at
    `next_attempt`), `answered` (its signed answer kept), or `refused` (why)."""

    __tablename__ = "erasure_peers"

    request_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    peer: Mapped[str] = mapped_column(String(42), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # the signed answer (JSON), or the last error
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
