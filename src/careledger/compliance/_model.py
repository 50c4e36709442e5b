"""What a compliance report holds: plain values, each counted from the audit log or the source it names.

The report names patients by address and records by type, never by their contents: an auditor
sees who saw what kind of record, when and why, and nothing of what the records say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from careledger.errors import ValidationError

HOUR = 3600.0  # a record or an audit entry not anchored this long after it was written is a finding


@dataclass(frozen=True, slots=True)
class Period:
    """From `since` until (not including) `until`, both in UTC."""

    since: datetime
    until: datetime


def period_of(start: str, end: str) -> Period:
    """The period `--from start --to end` names: dates (`2026-06-01`, the end date counted whole) or ISO times
    (`2026-06-01T08:00:00+02:00`, UTC unless they say); `ValidationError` for anything else or an empty span."""
    since, until = _moment(start, "--from", end=False), _moment(end, "--to", end=True)
    if since >= until:
        raise ValidationError(f"the period ends ({end}) before it begins ({start})")
    return Period(since, until)


def _moment(text: str, option: str, *, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option} takes a date (2026-06-01) or an ISO time, not {text[:40]!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Controller:
    """The node whose report it is: the organisation that runs it (as configured), and how the chain knows it."""

    organisation: str
    address: str
    did: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure of a patient's records (HIPAA §164.528): audit entry, when, to whom, what kinds, why."""

    entry: int
    at: datetime
    recipient: str
    recipient_role: str
    interaction: str
    what: dict[str, int]  # resource type -> versions disclosed
    purpose: str | None
    break_glass: bool


@dataclass(frozen=True, slots=True)
class Accounting:
    """One patient's disclosures in the period, and how many looks at her records were refused."""

    patient: str
    disclosures: tuple[Disclosure, ...]
    refused: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """Records sent to another node (the exchange's `share`): how many answers, how many record versions."""

    node: str
    answers: int
    records: int


@dataclass(frozen=True, slots=True)
class Retention:
    """A retention rule of one record category, as configured (`[erasure.retention]`)."""

    category: str
    name: str
    years: int


@dataclass(frozen=True, slots=True)
class Processing:
    """The records of processing (GDPR Art. 30) of the period."""

    controller: Controller
    purposes: dict[str, int]  # HL7 PurposeOfUse -> allowed accesses to patients' records
    categories_held: dict[str, int]  # record category -> records held now
    categories_written: dict[str, int]  # record category -> versions written in the period
    recipients: dict[str, int]  # recipient's registered role -> disclosures
    transfers: tuple[Transfer, ...]
    retention: tuple[Retention, ...]
    security: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Review:
    """A staff review of a break-glass use."""

    verdict: str
    reviewer: str
    reviewed_at: datetime
    note: str


@dataclass(frozen=True, slots=True)
class BreakGlassEvent:
    """A break-glass attempt: opened, or refused and why; the reads it allowed in the period; its review. The
    practitioner's own reason is not shown: it tells circumstances (the audit log seals it, the chain holds only its
    hash); the reviewer read it, and the verdict and note say what was found of it."""

    entry: int
    at: datetime
    practitioner: str
    patient: str | None
    opened: bool
    refusal: str | None
    reads: int
    review: Review | None = None


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """A consent given or revoked on chain in the period (from the node's index of ConsentRegistry)."""

    grant_id: str
    change: str  # granted | revoked
    at: datetime
    block: int
    patient: str
    grantee: str
    categories: tuple[str, ...]
    purposes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """An audit entry listed as it is: an erasure, a custodial claim, a re-sealing after a new key."""

    entry: int
    at: datetime
    interaction: str
    agent: str
    patient: str | None
    allowed: bool
    detail: str | None


@dataclass(frozen=True, slots=True)
class Erasures:
    """Erasures in the period (audit entries `erase`), and the refusals, counted by the rule that refused."""

    erased: int
    refused: int
    refused_by_rule: dict[str, int]
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """An encryption key set on chain in the period for an actor of this node (a rotation, a claim, a recovery)."""

    actor: str
    key_version: int
    at: datetime
    block: int


@dataclass(frozen=True, slots=True)
class KeyEvents:
    """Key events: the audit's custodial claims, claim codes and re-sealings, and the chain's new keys."""

    counts: dict[str, dict[str, int]]  # interaction -> {"allowed": n, "denied": n}
    events: tuple[Event, ...]
    rotations: tuple[KeyRotation, ...]


@dataclass(frozen=True, slots=True)
class Lag:
    """How long what was written in the period waited for its anchor on chain (seconds)."""

    kind: str  # records | audit entries
    written: int
    anchored: int
    waiting: int
    p50: float | None
    p95: float | None
    max: float | None
    late: int  # anchored more than an hour after it was written, or still waiting after an hour


@dataclass(frozen=True, slots=True)
class Finding:
    """Something an auditor must look at: what it is, how many, and the audit entries concerned (the first few)."""

    kind: str
    what: str
    count: int
    entries: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Summary:
    """Every audit entry of the period by interaction, allowed and denied."""

    entries: int
    allowed: int
    denied: int
    by_interaction: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    """A node's compliance report for one period."""

    period: Period
    generated_at: datetime
    summary: Summary
    accounting: tuple[Accounting, ...]
    processing: Processing
    break_glass: tuple[BreakGlassEvent, ...]
    consents: tuple[ConsentChange, ...]
    erasures: Erasures
    keys: KeyEvents
    anchoring: tuple[Lag, ...]
    findings: tuple[Finding, ...] = field(default=())
