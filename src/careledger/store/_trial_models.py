"""The tables of clinical trials (careledger.trials): a sponsor's sealed randomisation seeds, the trial definitions
held here, a site's visits and their payments, and the serious adverse events' safety reports received. Apart from
`models.py`, which is at the house's size limit; importing the `store` package registers them on the same `Base`.

No table holds a patient's address or record id beside a trial id: a participant is her salted commitment on chain
(`participant`), which only her ResearchSubject record (sealed, behind the door) ties to her. A visit's CRF record
(id, version) is sealed with the visit's salt, and what is anchored and paid for is a visit leaf, keccak256(salt ‖
the record version's commitment): neither a record id nor a commitment of `record_versions` appears here or on chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careledger.store.models import Base


class TrialSeed(Base):
    """A randomisation seed this node's sponsor wallet drew for a trial: 32 random bytes sealed under the node's
    key-encryption key (AAD: the trial id), keyed by its hash (keccak256, what goes on chain), kept until
    unblinding reveals it. Never replaced: if a commitment is sent twice (the first still pending), the seed whose
    hash the chain took is here."""

    __tablename__ = "trial_seeds"

    trial_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seed_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    sponsor: Mapped[str] = mapped_column(String(42))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrialDefinition(Base):
    """One version of a trial's definition (the protocol document whose keccak256 is its hash on chain), as its
    sponsor registered or amended it: held by the sponsor's node and by each site that fetched it (no PHI)."""

    __tablename__ = "trial_definitions"

    trial_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrialDraft(Base):
    """A definition document kept before the transaction that registers or amends it (by its keccak256, the protocol
    hash it goes on chain as): a crash before the trial's version is known loses no definition; it is held as that
    version once the chain names its hash."""

    __tablename__ = "trial_drafts"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrialVisit(Base):
    """A visit of a participant at this site: its CRF's current version (a QuestionnaireResponse record), whether it
    is complete, its visit leaf's anchoring, and its milestone payment (transaction, time) once the escrow paid it.

    `sealed` holds the record id, version and the visit salt under the node's key-encryption key (AAD: trial,
    participant, visit); in the clear only `leaf` (keccak256(salt ‖ the version's commitment), fresh per CRF version),
    its batch (`batch_id` at `leaf_index` with the Merkle `proof`), `entered` (when this leaf was written) and the
    status columns."""

    __tablename__ = "trial_visits"

    trial_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    participant: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    visit: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    leaf: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    complete: Mapped[bool] = mapped_column(Boolean)
    entered: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    proof: Mapped[str | None] = mapped_column(Text)  # JSON list of the Merkle siblings, 0x-hex
    paid_tx: Mapped[str | None] = mapped_column(String(66), index=True)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TrialSafetyReport(Base):
    """A serious adverse event's safety report a site node sent this node (its sponsor's or ethics board's): sealed
    under the node's key-encryption key, once per report (`digest`: keccak256 of its canonical JSON)."""

    __tablename__ = "trial_safety_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(Integer, index=True)
    site: Mapped[str] = mapped_column(String(42))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    received: Mapped[datetime] = mapped_column(DateTime(timezone=True))
