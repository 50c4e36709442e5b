"""One pass over a period's audit entries, counting every section of the report as the entries stream by.

```
AuditLog.read(period) ─ entry by entry (one chunk held at a time) ─► Tally.add
   ├─ every entry ──────────────► summary (by interaction and outcome)
   ├─ allowed, about a patient ─► purposes; a practitioner's licence expired at the time? ─► finding
   ├─ a disclosure ─────────────► her accounting, the recipient's role, transfers (`share`)
   ├─ refused someone else ─────► her accounting's refusals
   ├─ break-glass ──────────────► events (reads under it counted on the window they fall in)
   └─ erase, claim, reseal … ───► erasures, key events
```

A disclosure is an allowed entry about a patient, by someone other than her and this node, that names
the record versions it showed (a read, a search's page, an export, a share, a study's release): writes
are not disclosures, nor is the node's own work.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from careledger.audit import Action, Entry
from careledger.compliance._model import BreakGlassEvent, Disclosure, Erasures, Event, Summary, Transfer

BREAK_GLASS = "break-glass"
ERASE = "erase"
SHARE = "share"  # the exchange's custodian answering another node
KEY_INTERACTIONS = frozenset({"claim", "claim-code", "claim-code-burnt", "reseal"})
_DISCLOSING = frozenset({Action.READ, Action.EXECUTE})
EXAMPLES = 20  # audit entries named per finding


@dataclass(frozen=True, slots=True)
class ActorFacts:
    """What the chain says of an agent: its registered role, and (a practitioner's) licences' expiries."""

    role: str
    licences: tuple[int, ...] = ()

    def licence_expired(self, at: datetime) -> bool:
        """Whether the practitioner held licences and every one had expired by `at`."""
        return bool(self.licences) and max(self.licences) <= at.timestamp()


class Tally:
    """The counts of one period, added to entry by entry."""

    def __init__(self, node: str, facts: Callable[[str], ActorFacts]) -> None:
        self._node = node
        self._facts = facts
        self.outcomes: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.agents: set[str] = set()
        self.purposes: Counter[str] = Counter()
        self.recipients: Counter[str] = Counter()
        self.disclosures: defaultdict[str, list[Disclosure]] = defaultdict(list)
        self.refused: Counter[str] = Counter()
        self.transfers: dict[str, tuple[int, int]] = {}
        self.break_glass: list[BreakGlassEvent] = []
        self._reads: list[int] = []  # reads under each break-glass event, by its place in `break_glass`
        self._windows: dict[tuple[str, str | None], int] = {}  # (practitioner, patient) -> latest opened event
        self.erasures: list[Event] = []
        self.key_events: list[Event] = []
        self.expired: defaultdict[str, list[int]] = defaultdict(list)  # practitioner -> entries (the first few)
        self.expired_count: Counter[str] = Counter()

    def add(self, entry: Entry) -> None:
        """Count one entry in every section it belongs to."""
        access = entry.access
        self.outcomes[access.interaction]["allowed" if access.allowed else "denied"] += 1
        self.agents.add(access.agent)
        if access.interaction == BREAK_GLASS:
            self._break_glass(entry)
        elif access.break_glass and access.allowed:
            opened = self._windows.get((access.agent, access.patient))
            if opened is not None:
                self._reads[opened] += 1
        if access.interaction == ERASE:
            self.erasures.append(_event(entry))
        elif access.interaction in KEY_INTERACTIONS:
            self.key_events.append(_event(entry))
        if access.patient is None:
            return
        if not access.allowed:
            if access.agent != access.patient:  # someone else refused her records (her own request refused is not)
                self.refused[access.patient] += 1
            return
        self.purposes[access.purpose or "unstated"] += 1
        facts = self._facts(access.agent)
        if facts.role == "practitioner" and facts.licence_expired(entry.recorded_at):
            self.expired_count[access.agent] += 1
            if len(self.expired[access.agent]) < EXAMPLES:
                self.expired[access.agent].append(entry.seq)
        if access.entities and access.action in _DISCLOSING and access.agent not in (access.patient, self._node):
            self._disclosure(entry, facts.role)

    def _disclosure(self, entry: Entry, role: str) -> None:
        access = entry.access
        assert access.patient is not None
        what: Counter[str] = Counter(reference.split("/", 1)[0] for reference in access.entities)
        disclosure = Disclosure(
            entry.seq,
            entry.recorded_at,
            access.agent,
            role,
            access.interaction,
            dict(sorted(what.items())),
            access.purpose,
            access.break_glass,
        )
        self.disclosures[access.patient].append(disclosure)
        self.recipients[role] += 1
        if access.interaction == SHARE:
            answers, records = self.transfers.get(access.agent, (0, 0))
            self.transfers[access.agent] = (answers + 1, records + len(access.entities))

    def _break_glass(self, entry: Entry) -> None:
        access = entry.access
        if access.allowed:
            self._windows[(access.agent, access.patient)] = len(self.break_glass)
        refusal = None if access.allowed else access.detail  # an opened window's detail is the practitioner's reason
        event = BreakGlassEvent(entry.seq, entry.recorded_at, access.agent, access.patient, access.allowed, refusal, 0)
        self.break_glass.append(event)
        self._reads.append(0)

    def break_glass_events(self) -> list[BreakGlassEvent]:
        """The break-glass events, each with the reads counted under it."""
        return [
            BreakGlassEvent(e.entry, e.at, e.practitioner, e.patient, e.opened, e.refusal, reads, e.review)
            for e, reads in zip(self.break_glass, self._reads, strict=True)
        ]

    def summary(self) -> Summary:
        """Every entry counted by interaction and outcome."""
        allowed = sum(counts["allowed"] for counts in self.outcomes.values())
        denied = sum(counts["denied"] for counts in self.outcomes.values())
        by_interaction = {
            interaction: {"allowed": counts["allowed"], "denied": counts["denied"]}
            for interaction, counts in sorted(self.outcomes.items())
        }
        return Summary(allowed + denied, allowed, denied, by_interaction)

    def transfer_list(self) -> tuple[Transfer, ...]:
        """Records sent to each other node, the most first."""
        ordered = sorted(self.transfers.items(), key=lambda item: (-item[1][1], item[0]))
        return tuple(Transfer(node, answers, records) for node, (answers, records) in ordered)

    def erasure_counts(self) -> Erasures:
        """The erasures, and the refusals counted by the rule (or reason) that refused each."""
        refused = Counter(e.detail or "unstated" for e in self.erasures if not e.allowed)
        erased = len(self.erasures) - refused.total()
        return Erasures(erased, refused.total(), dict(refused.most_common()), tuple(self.erasures))

    def key_counts(self) -> dict[str, dict[str, int]]:
        """The key events by interaction, allowed and denied."""
        counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for event in self.key_events:
            counts[event.interaction]["allowed" if event.allowed else "denied"] += 1
        return {name: {"allowed": c["allowed"], "denied": c["denied"]} for name, c in sorted(counts.items())}


def _event(entry: Entry) -> Event:
    access = entry.access
    return Event(
        entry.seq, entry.recorded_at, access.interaction, access.agent, access.patient, access.allowed, access.detail
    )
