"""Compliance reports of a node for a period: gathered from the audit log and the node's other sources.

```
Anchorer.lags (records, audit heads) ─► anchoring lag; how many entries the period holds (the progress bar's total)
AuditLog.read(period) ─ one pass, each entry opened once and checked against the one before ─► Tally ─► sections
BreakGlassReviews.reviews(period) ─► each break-glass use's review, joined on its audit entry
ConsentService.changed(blocks) ───► consents given and revoked, of this node's patients or to its actors
IdentityRegistry.key_rotations ───► the chain's new keys of this node's patients and actors
category_counts ──────────────────► records held and written by category (SQL, nothing opened)
```

Every number of a section comes from the one source it names. The report is itself audited
(`compliance-report`, by the node).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from careledger.access import BreakGlassReview, BreakGlassReviews
from careledger.anchoring import Anchorer
from careledger.audit import Access, Action, AuditLog, Outcome
from careledger.chain import IdentityRegistry, credential_type_id
from careledger.compliance._findings import findings
from careledger.compliance._model import (
    HOUR,
    Accounting,
    BreakGlassEvent,
    ComplianceReport,
    ConsentChange,
    Controller,
    KeyEvents,
    KeyRotation,
    Lag,
    Period,
    Processing,
    Retention,
    Review,
)
from careledger.compliance._tally import ActorFacts, Tally
from careledger.consent import ConsentService
from careledger.identity import MEDICAL_LICENCE, did_pkh
from careledger.records import CategoryCounts

INTERACTION = "compliance-report"
REVIEW_DAYS = 7  # a break-glass use not reviewed this many days after it was opened is a finding
AUDIT_ENTRIES = "audit entries"  # the anchoring lag of the audit log's heads, by this name
_PROGRESS_EVERY = 1000

SECURITY_MEASURES = (
    "Records encrypted at rest, each version under its own random key (AES-256-GCM); each key sealed (HPKE) to "
    "the patient's and the custodian node's encryption keys.",
    "No health data on chain: only addresses, public keys, salted commitments, Merkle roots and consent terms.",
    "Every access, allowed or refused, audited in a hash-chained log whose text is sealed under the node's audit "
    "key and whose heads are anchored on chain.",
    "Access decided in one place: consents on chain, the care team's affiliation, break-glass with a reason "
    "recorded on chain and reviewed by staff.",
    "Each record version's commitment anchored on chain in a Merkle batch: a record is checked against the chain "
    "alone (`record verify`, `careledger verify`).",
    "Wallets in passphrase-protected keystores (keystore v3, scrypt); the node's other keys (key-encryption, "
    "index, audit) kept out of the database.",
    "Erasure by destroying a record's keys and blobs; retention rules and legal holds refuse it by name.",
)


@dataclass(frozen=True, slots=True)
class ChainView:
    """What the report asks of the chain: its head, a block's time, the identity registry."""

    head: Callable[[], int]
    time_of: Callable[[int], int]
    identity: Callable[[], IdentityRegistry]


class ComplianceReports:
    """Builds a node's compliance report for a period."""

    def __init__(
        self,
        audit: AuditLog,
        consent: Callable[[], ConsentService],
        chain: ChainView,
        anchorers: Mapping[str, Anchorer],
        census: Callable[[datetime, datetime], CategoryCounts],
        reviews: Callable[[], BreakGlassReviews],
        *,
        node: str,
        chain_id: int,
        organisation: str = "",
        retention: Sequence[Retention] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`anchorers`: each anchoring source by what it anchors (`records`, and `AUDIT_ENTRIES` for the log)."""
        self.audit = audit
        self._consent = consent
        self._chain = chain
        self._anchorers = anchorers
        self._census = census
        self._reviews = reviews
        self._node = node
        self._chain_id = chain_id
        self._organisation = organisation
        self._retention = tuple(retention)
        self._clock = clock

    def report(
        self,
        period: Period,
        *,
        review_days: int = REVIEW_DAYS,
        progress: Callable[[int, int], None] = lambda _done, _total: None,
    ) -> ComplianceReport:
        """The report of `period`; `progress(done, total)` is told how many of its audit entries were read. A
        break-glass use not reviewed `review_days` after it was opened is a finding."""
        now = self._clock()
        anchoring = tuple(self._lag(kind, anchorer, period, now) for kind, anchorer in self._anchorers.items())
        total = next((lag.written for lag in anchoring if lag.kind == AUDIT_ENTRIES), 0)
        tally, problems = Tally(self._node, _Facts(self._chain.identity, self._node)), list[str]()
        for done, entry in enumerate(self.audit.read(period.since, period.until, problems), 1):
            tally.add(entry)
            if done % _PROGRESS_EVERY == 0:
                progress(done, total)
        progress(total, total)
        reviews = {r.entry: r for r in self._reviews().reviews(period.since, period.until)}
        break_glass = tuple(_reviewed(event, reviews.get(str(event.entry))) for event in tally.break_glass_events())
        blocks = self._blocks(period)
        ours = self.audit.patients() | tally.agents | {self._node}
        report = ComplianceReport(
            period=period,
            generated_at=now,
            summary=tally.summary(),
            accounting=tuple(
                Accounting(patient, tuple(tally.disclosures.get(patient, ())), tally.refused[patient])
                for patient in sorted(set(tally.disclosures) | set(tally.refused))
            ),
            processing=self._processing(tally, period),
            break_glass=break_glass,
            consents=self._consents(blocks, ours),
            erasures=tally.erasure_counts(),
            keys=KeyEvents(tally.key_counts(), tuple(tally.key_events), self._rotations(blocks, ours)),
            anchoring=anchoring,
            findings=findings(tally, problems, break_glass, anchoring, now, review_days),
        )
        detail = f"{period.since.isoformat()} to {period.until.isoformat()}"
        self.audit.record(Access(Action.EXECUTE, INTERACTION, Outcome.SUCCESS, self._node, detail=detail))
        return report

    def _processing(self, tally: Tally, period: Period) -> Processing:
        counts = self._census(period.since, period.until)
        registered = self._chain.identity().actor(self._node)
        controller = Controller(
            self._organisation,
            self._node,
            did_pkh(self._chain_id, self._node),
            registered.endpoint if registered is not None else "",
        )
        return Processing(
            controller=controller,
            purposes=dict(tally.purposes.most_common()),
            categories_held=dict(sorted(counts.held.items())),
            categories_written=dict(sorted(counts.written.items())),
            recipients=dict(tally.recipients.most_common()),
            transfers=tally.transfer_list(),
            retention=self._retention,
            security=SECURITY_MEASURES,
        )

    def _lag(self, kind: str, anchorer: Anchorer, period: Period, now: datetime) -> Lag:
        lags, waiting = anchorer.lags(period.since, period.until)
        lags.sort()
        late = sum(1 for lag in lags if lag > HOUR) + sum(1 for at in waiting if (now - at).total_seconds() > HOUR)
        return Lag(
            kind=kind,
            written=len(lags) + len(waiting),
            anchored=len(lags),
            waiting=len(waiting),
            p50=statistics.median(lags) if lags else None,
            p95=lags[min(len(lags) - 1, int(0.95 * len(lags)))] if lags else None,
            max=lags[-1] if lags else None,
            late=late,
        )

    def _blocks(self, period: Period) -> tuple[int, int] | None:
        """The first and last blocks made in the period (None: none was)."""
        head = self._chain.head()
        first = _first_block_at(period.since, head, self._chain.time_of)
        last = _first_block_at(period.until, head, self._chain.time_of) - 1
        return (first, last) if first <= last else None

    def _consents(self, blocks: tuple[int, int] | None, ours: frozenset[str]) -> tuple[ConsentChange, ...]:
        """The consents given or revoked in `blocks` by the patients in `ours`, or to the actors in it."""
        if blocks is None:
            return ()
        changes: list[ConsentChange] = []
        for grant in self._consent().changed(*blocks):
            if grant.patient not in ours and grant.grantee not in ours:
                continue
            terms = (grant.patient, grant.grantee, tuple(c.value for c in grant.categories))
            purposes = tuple(p.value for p in grant.purposes)
            for change, block in (("granted", grant.granted_block), ("revoked", grant.revoked_block)):
                if block is not None and blocks[0] <= block <= blocks[1]:
                    at = datetime.fromtimestamp(self._chain.time_of(block), UTC)
                    changes.append(ConsentChange(grant.hex_id, change, at, block, *terms, purposes))
        return tuple(sorted(changes, key=lambda c: (c.block, c.change, c.grant_id)))

    def _rotations(self, blocks: tuple[int, int] | None, ours: frozenset[str]) -> tuple[KeyRotation, ...]:
        """The encryption keys set in `blocks` of the actors in `ours`."""
        if blocks is None:
            return ()
        return tuple(
            KeyRotation(actor, version, datetime.fromtimestamp(self._chain.time_of(block), UTC), block)
            for actor, version, block in self._chain.identity().key_rotations(*blocks)
            if actor in ours
        )


class _Facts:
    """Each agent's facts, asked of the chain once per report."""

    def __init__(self, identity: Callable[[], IdentityRegistry], node: str) -> None:
        self._identity = identity
        self._node = node
        self._known: dict[str, ActorFacts] = {}
        self._licence = credential_type_id(MEDICAL_LICENCE)

    def __call__(self, agent: str) -> ActorFacts:
        known = self._known.get(agent)
        if known is None:
            known = self._known[agent] = self._ask(agent)
        return known

    def _ask(self, agent: str) -> ActorFacts:
        if agent == self._node:
            return ActorFacts("this node")
        registry = self._identity()
        actor = registry.actor(agent)
        if actor is None:
            return ActorFacts("unregistered")
        if actor.role.label != "practitioner":
            return ActorFacts(actor.role.label)
        expiries = tuple(c.expires_at for c in registry.credentials_of(agent) if c.credential_type == self._licence)
        return ActorFacts(actor.role.label, expiries)


def _first_block_at(moment: datetime, head: int, time_of: Callable[[int], int]) -> int:
    """The first block made at or after `moment` (`head + 1` if none was yet): block times never go back."""
    wanted, low, high = moment.timestamp(), 0, head + 1
    while low < high:
        middle = (low + high) // 2
        if time_of(middle) < wanted:
            low = middle + 1
        else:
            high = middle
    return low


def _reviewed(event: BreakGlassEvent, found: BreakGlassReview | None) -> BreakGlassEvent:
    """`event` with its review, if it has one."""
    if found is None:
        return event
    review = Review(found.verdict.value, found.reviewer, found.reviewed_at, found.note)
    return BreakGlassEvent(
        event.entry, event.at, event.practitioner, event.patient, event.opened, event.refusal, event.reads, review
    )
