"""The node's tables, as SQLAlchemy 2 typed models. Schema changes go through Alembic."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Base of every CareLedger table."""


class EventCursor(Base):
    """How far an event reader has read one stream of chain events, per chain.

    The reader handles a range of blocks and moves its cursor in the same database
    transaction, so after a crash it resumes exactly where the last commit left it.
    """

    __tablename__ = "event_cursors"

    stream: Mapped[str] = mapped_column(String(100), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_block: Mapped[int] = mapped_column(BigInteger)
    # How many events were handled up to `last_block`, by every process: one that finds the cursor moved by
    # another tells from this whether anything was indexed meanwhile, or only blocks without events.
    events: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RecordVersion(Base):
    """One version of one record: where its ciphertext is, who may open it, its commitment.

    Nothing here is plaintext health data except what the search tokens hold, and those,
    like this table, never leave the custodian node.
    """

    __tablename__ = "record_versions"

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    resource_type: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    patient_address: Mapped[str] = mapped_column(String(42), index=True)
    # A keyed tag of the category (careledger.records._blind_index), not its name.
    category: Mapped[str] = mapped_column(String(32))
    cid: Mapped[str | None] = mapped_column(String(100))
    sealed_keys: Mapped[str | None] = mapped_column(Text)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # No index of its own: SQLite would pick it for `record_id = ? AND is_current = 1`
    # and scan every current row instead of the primary key's few versions.
    is_current: Mapped[bool] = mapped_column(Boolean)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    proof: Mapped[str | None] = mapped_column(Text)
    # Who wrote this version (the access policy lets the author relabel a sensitive record);
    # NULL for versions written before authors were kept.
    author: Mapped[str | None] = mapped_column(String(42))


class RecordToken(Base):
    """A search token of a record's current version, as the blind index's keyed hashes (careledger.records._tokens).

    `system` and `value` hold hashes, never the codes, identifiers or dates themselves.
    """

    __tablename__ = "record_tokens"
    __table_args__ = (
        Index("ix_record_tokens_param_value", "param", "value"),
        Index("ix_record_tokens_param_system", "param", "system"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))


class Blob(Base):
    """A record's ciphertext, by content id, when the node keeps its blobs in the database (`blob_store`).

    Rows are never changed: a read checks the bytes against `cid`, so a changed row is refused.
    """

    __tablename__ = "blobs"

    cid: Mapped[str] = mapped_column(String(100), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class NodeState(Base):
    """Facts about this database the node acts on once (`blind_index`, `sealed_audit`, `sealed_break_glass`)."""

    __tablename__ = "node_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))


class AnchorBatch(Base):
    """A Merkle batch of commitments: prepared (root fixed, leaves assigned), then anchored, with the block of its
    `Anchored` event when the node sent it. A batch is marked anchored only after its receipt; a prepared one found
    after a crash is settled from the chain (RecordAnchor.is_anchored, its block then unknown) or sent again."""

    __tablename__ = "anchor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    leaf_count: Mapped[int] = mapped_column(Integer)
    kind: Mapped[int] = mapped_column(Integer)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # None: anchored before 0033 too


class ImportCheckpoint(Base):
    """How many resources of one import source are stored.

    Moved in the same transaction as the records it counts, so a killed import resumes
    exactly where its last commit left it and stores no resource twice.
    """

    __tablename__ = "import_checkpoints"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    done: Mapped[int] = mapped_column(Integer)


class ConsentGrant(Base):
    """A consent grant as the chain announced it (ConsentGranted / ConsentRevoked events).

    The chain is the truth; this table is the node's index of it, kept by the event
    reader, so checks and listings need no RPC call.
    """

    __tablename__ = "consent_grants"
    __table_args__ = (Index("ix_consent_grants_pair", "patient", "grantee"),)

    grant_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    patient: Mapped[str] = mapped_column(String(42))
    grantee: Mapped[str] = mapped_column(String(42), index=True)
    categories: Mapped[int] = mapped_column(Integer)
    purposes: Mapped[int] = mapped_column(Integer)
    not_before: Mapped[int] = mapped_column(BigInteger)
    expiry: Mapped[int] = mapped_column(BigInteger)
    granted_by: Mapped[str] = mapped_column(String(42))
    granted_block: Mapped[int] = mapped_column(BigInteger)
    revoked_block: Mapped[int | None] = mapped_column(BigInteger)


class ConsentDelegation(Base):
    """A patient's delegation of consent management (Delegation events); categories 0 = ended."""

    __tablename__ = "consent_delegations"

    patient: Mapped[str] = mapped_column(String(42), primary_key=True)
    delegate: Mapped[str] = mapped_column(String(42), primary_key=True)
    categories: Mapped[int] = mapped_column(Integer)
    expiry: Mapped[int] = mapped_column(BigInteger)


class CareTeamRestriction(Base):
    """The categories a patient keeps from a node's care team (CareTeamRestricted events; 0 = none)."""

    __tablename__ = "care_team_restrictions"

    patient: Mapped[str] = mapped_column(String(42), primary_key=True)
    custodian: Mapped[str] = mapped_column(String(42), primary_key=True)
    categories: Mapped[int] = mapped_column(Integer)


class ClaimCode(Base):
    """The one live claim code of a custodial patient, sealed under the custodial key-encryption key.

    A new code replaces the last; `failures` wrong tries burn it; `claimed_by` (her wallet)
    marks it used.
    """

    __tablename__ = "claim_codes"

    patient: Mapped[str] = mapped_column(String(42), primary_key=True)
    sealed_code: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[float] = mapped_column(Float)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(42), nullable=True)


class OAuthClient(Base):
    """An app or a system registered to get tokens from this node (SMART App Launch, Backend Services).

    An app's users sign in themselves; a system acts for `acts_as` (one of the node's actors)
    and proves itself with a key of its registered public `jwks`.
    """

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    acts_as: Mapped[str | None] = mapped_column(String(42), nullable=True)
    redirect_uris: Mapped[str] = mapped_column(Text)  # JSON list
    jwks: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON Web Key Set, public keys only
    scopes: Mapped[str] = mapped_column(Text)  # the most it may be granted, space-separated
    created_at: Mapped[float] = mapped_column(Float)
    launch_uri: Mapped[str | None] = mapped_column(Text, nullable=True)  # an app's, for EHR launch
    # A system that may introspect any token (a resource server); other clients, only their own.
    resource_server: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RefreshToken(Base):
    """A refresh token issued to an app (`offline_access`, `online_access`), kept only as its SHA-256.

    Tokens of one authorization share a `family`: each use rotates the token (`used_at` is
    set, a new row is added), a rotated token used again revokes the whole family (and the
    access tokens issued with it, by `access_jti`), and the family ends at `expires_at`
    whatever its rotations. `subject` is the identity signed in, re-checked at every use.
    """

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(42))
    patient: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    access_jti: Mapped[str] = mapped_column(String(64))  # the access token issued with it, revoked with it
    # The chart an EHR launch opened (its patient, and encounter if one), given again at each refresh.
    launch_patient: Mapped[str | None] = mapped_column(String(64), nullable=True)
    launch_encounter: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RevokedToken(Base):
    """An access token (by `jti`) or a refresh-token family whose access tokens were revoked before they expire.

    Kept until the last access token it names has expired (`expires_at`); rows past it may be
    deleted at any time.
    """

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class EmergencyAccess(Base):
    """A break-glass window: a practitioner may read a patient's records for ETREAT until it ends.

    Opened only after the chain recorded the access (`EmergencyAccess` event), which the
    patient sees; the reason (sealed as the audit log seals it) and its salt stay here, their hash on chain.
    """

    __tablename__ = "emergency_accesses"
    __table_args__ = (Index("ix_emergency_accesses_pair", "practitioner", "patient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practitioner: Mapped[str] = mapped_column(String(42))
    patient: Mapped[str] = mapped_column(String(42))
    reason: Mapped[str] = mapped_column(Text)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    reason_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    block: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One FHIR AuditEvent in the append-only, hash-chained audit log.

    `hash = keccak256(prev_hash ‖ canonical JSON of the event)`; `prev_hash` is unique, so
    two writers can never fork the chain. Heads are anchored on chain (RecordAnchor, kind
    AUDIT), so rewriting history is detectable even by whoever controls this database.
    """

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    patient: Mapped[str | None] = mapped_column(String(42), index=True)
    agent: Mapped[str] = mapped_column(String(42), index=True)
    event: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True)


# The tables themselves, for Core statements on the hot paths (bulk writes, reads by id).
RECORD_VERSIONS = cast("Table", RecordVersion.__table__)
RECORD_TOKENS = cast("Table", RecordToken.__table__)
AUDIT_EVENTS = cast("Table", AuditEntry.__table__)


class ExchangeNonce(Base):
    """A signed fetch request this node answered, kept until it expires: a replay is refused.

    Requests live five minutes at most, so the table stays small; rows past their expiry
    may be deleted at any time.
    """

    __tablename__ = "exchange_nonces"

    requester: Mapped[str] = mapped_column(String(42), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(66), primary_key=True)
    expiry: Mapped[int] = mapped_column(BigInteger, index=True)


class Device(Base):
    """A device identity this node registered, and the patient it is bound to (if any).

    `last_sequence` is the highest reading sequence accepted from it: moved in the same
    transaction that journals the readings, so a redelivered reading is always a duplicate.
    The binding itself is the patient's consent to the device (vitals, TREAT) on chain;
    `grant_id` names it, so unbinding revokes it.
    """

    __tablename__ = "devices"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(100))
    device_record: Mapped[str] = mapped_column(String(64))
    patient: Mapped[str | None] = mapped_column(String(42), nullable=True, index=True)
    patient_record: Mapped[str | None] = mapped_column(String(64), nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(66), nullable=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    registered_at: Mapped[float] = mapped_column(Float)


class DeviceReading(Base):
    """Readings accepted and not yet stored as Observations: a write-ahead journal, sealed at rest.

    A row holds one intake's accepted readings of one device (JSON, AES-GCM under the
    node's at-rest key). The row is deleted in the transaction that stores its
    Observations, so a crash anywhere loses nothing and stores nothing twice. `latest_ms`,
    the time of its latest reading, is all the recorder needs to pick the rows whose
    intervals are over without opening the others.
    """

    __tablename__ = "device_readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device: Mapped[str] = mapped_column(String(42), index=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    latest_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class StudyBudget(Base):
    """The privacy budget a node has spent on one study's aggregate queries, in millionths of epsilon.

    Each node answers a query with noise of its own, so each keeps its own account; a query
    whose epsilon would take the spend past the study's budget (on chain) is refused
    before anything is computed.
    """

    __tablename__ = "study_budgets"

    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    study_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    spent_micro: Mapped[int] = mapped_column(BigInteger, default=0)


class Ticket(Base):
    """A short-lived, usually single-use thing one worker hands out and any worker of the node accepts: a SIWE
    nonce, an OAuth authorization code, a launch id, a picker ticket, a portal session (careledger.shared).

    `key` is a hash of what the holder shows, never the secret itself; `value` is JSON. A row past
    `expires_at` counts as gone and may be deleted at any time.
    """

    __tablename__ = "tickets"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class RateBucket(Base):
    """A token bucket of one rate-limited key, shared by every worker (careledger.shared.Buckets).

    Kept as its theoretical arrival time (GCRA): the bucket is full when `due` is past, and each request
    moves it on by one interval, so one upsert both counts and decides. `refused` says whether the last
    request was over the limit (the statement that decided it returns it).
    """

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    due: Mapped[float] = mapped_column(Float, index=True)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)


class SlotHold(Base):
    """The Appointment that holds a Slot (careledger.telehealth): the slot's id is the key, so of two bookings
    racing for one slot only the first to commit gets it, on any number of workers.

    Written in the transaction that stores the Appointment's version. `expires_at` is set while the booking is
    only held (its Appointment `pending`, the patient's payment or consent still to come): past it, another
    booking may take the slot. A confirmed booking's hold has none and lasts until it is cancelled or moved.
    `holder` is the wallet of the patient it is held for (a patient holds only a few slots at once);
    `claimed_at`, when a `$book` of the pending hold began (one at a time: a second is refused, not undone).
    """

    __tablename__ = "slot_holds"

    slot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(String(64), index=True)
    held_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    claimed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class MessageReceipt(Base):
    """One participant of one message and when she read it (None: unread); the sender's is read when sent.

    `reader` is a blind token of her wallet (careledger.telehealth keys it with a secret of the node's home), so a
    copy of the database tells neither who messages whom nor who has read what.
    """

    __tablename__ = "message_receipts"
    __table_args__ = (Index("ix_message_receipts_reader_thread", "reader", "thread_id"),)

    reader: Mapped[str] = mapped_column(String(32), primary_key=True)
    communication_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    thread_id: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class OutboxParcel(Base):
    """A message sealed for another node that did not answer, kept to be tried again (careledger.exchange's courier)
    until it does, across restarts: the sealed content only (ciphertext, and its data key sealed to the receiving
    node), whom it goes to and whose it is; never the message itself."""

    __tablename__ = "message_outbox"

    parcel_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    receiver: Mapped[str] = mapped_column(String(42))
    patient: Mapped[str] = mapped_column(String(42))
    content: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[float] = mapped_column(Float)
    next_attempt: Mapped[float] = mapped_column(Float, index=True)


class CdsClient(Base):
    """A CDS Hooks client (an EHR) allowed to call this node's CDS services (careledger.insight.cds).

    It signs each request with a JWT whose `iss` is this row's key; its public keys are a JWKS kept here
    (`jwks`) or fetched from `jku`, the one URL its JWTs' `jku` header must name exactly.
    """

    __tablename__ = "cds_clients"

    iss: Mapped[str] = mapped_column(String(255), primary_key=True)
    jwks: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON Web Key Set, public keys only
    jku: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class CdsFeedback(Base):
    """What a CDS client said became of one card this node answered (CDS Hooks feedback): accepted or
    overridden, why, and when; counted per service. Card text is never kept, only the card's uuid."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    iss: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # the Coding, JSON
    outcome_at: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[float] = mapped_column(Float)
