"""The node's index of ConsentRegistry: its events in the database, and the grants, care team restrictions and
delegations in memory, so a consent check is a dictionary lookup.

```
sync() ─► EventReader(consent) ─ each new event, in the cursor's transaction ─► consent_grants, delegations, …
              │                                                                   │
              ▼ the pairs it touched: reloaded in memory                          ▼ another worker's span
           _pairs / _restrictions / _delegates  ◄── dropped (reloaded when next asked) only when that span held events
```

Every worker of a node indexes the same events into one database, one span at a time (`one_at_a_time`); the
worker that did not index a span learns from the cursor's event count whether it changed anything. A revoke is
honoured by the first check after the node has seen the block it is in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from careledger.chain import ChainEvent, ConsentRegistry, grant_from_event
from careledger.consent._terms import Purpose
from careledger.indexing import EventReader
from careledger.records import Category
from careledger.store import CareTeamRestriction, ConsentDelegation, ConsentGrant, Database

_STREAM = "consent"


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant as the node knows it."""

    grant_id: int
    patient: str
    grantee: str
    categories: tuple[Category, ...]
    purposes: tuple[Purpose, ...]
    not_before: int
    expiry: int
    granted_by: str
    revoked: bool
    granted_block: int
    revoked_block: int | None

    @property
    def hex_id(self) -> str:
        """The grant's id as 0x-prefixed hex."""
        return f"{self.grant_id:#066x}"

    def live_at(self, now: float) -> bool:
        """Whether the grant is in force at `now` (started, unexpired, not revoked)."""
        return not self.revoked and self.not_before <= now < self.expiry

    def covers(self, category: Category, purpose: Purpose) -> bool:
        """Whether the grant names this category and purpose."""
        return category in self.categories and purpose in self.purposes

    @classmethod
    def of(cls, row: ConsentGrant) -> Grant:
        """A grant from its index row."""
        return cls(
            grant_id=int(row.grant_id, 16),
            patient=row.patient,
            grantee=row.grantee,
            categories=tuple(Category.from_mask(row.categories)),
            purposes=tuple(Purpose.from_mask(row.purposes)),
            not_before=row.not_before,
            expiry=row.expiry,
            granted_by=row.granted_by,
            revoked=row.revoked_block is not None,
            granted_block=row.granted_block,
            revoked_block=row.revoked_block,
        )


class ConsentIndex:
    """ConsentRegistry's events indexed in the database, and the grants, restrictions and delegations in memory."""

    def __init__(self, db: Database, registry: Callable[[], ConsentRegistry], clock: Callable[[], float]) -> None:
        self.db = db
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        # One sync at a time: a second caller (a request beside the server's sync loop) must not
        # return while the first has indexed its events but not yet put them in the cache.
        self._sync_lock = threading.Lock()
        self._pairs: dict[tuple[str, str], tuple[Grant, ...]] | None = None
        self._restrictions: dict[tuple[str, str], int] | None = None  # (patient, custodian) -> categories
        self._delegates: dict[str, tuple[tuple[str, int, int], ...]] | None = None  # -> (patient, categories, expiry)
        # The events the cursor had counted as this process last left it: if another process sharing the database
        # (another worker, the CLI beside a server) indexed events since, the cache missed them.
        self._events_seen: int | None = None

    def sync(self) -> int:
        """Index the registry's events of new blocks; how many there were."""
        with self._sync_lock:
            return self._sync()

    def _sync(self) -> int:
        touched: set[tuple[str, str]] = set()
        seen: set[str] = set()  # the names of the events handled

        def handle(session: Session, event: ChainEvent) -> None:
            if event.name == "CareTeamRestricted":
                _index_restriction(session, event)
                self._restrictions = None  # rare: reloaded from the database when next asked
                return
            seen.add(event.name)
            pair = _index(session, event)
            if pair is not None:
                touched.add(pair)

        reader = EventReader(self._registry(), self.db, _STREAM)
        cached = self._pairs is not None or self._delegates is not None
        before = reader.mark()
        if cached and before.events != self._events_seen:
            self._drop_all()  # another process indexed events: reloaded when next asked
        # From `before`, not the cursor read again: what another worker indexes meanwhile sets `events_elsewhere`.
        handled = reader.poll(handle, since=before)
        if reader.events_elsewhere:
            self._drop_all()  # the other process's events are not in `touched`
        elif "Delegation" in seen:
            with self._lock:  # rare: reloaded when next asked, once committed (a load under the lock keeps nothing)
                self._delegates = None
        self._events_seen = reader.reached.events
        if touched:
            with self._lock:
                if self._pairs is not None:
                    with self.db.session() as session:
                        for patient, grantee in touched:
                            self._pairs[(patient, grantee)] = _pair_grants(session, patient, grantee)
        return handled

    def _drop_all(self) -> None:
        with self._lock:
            self._pairs = self._restrictions = self._delegates = None

    def blocks_behind(self) -> int:
        """How many of the chain's blocks the index has not read yet (0: current); asks the chain for its head."""
        registry = self._registry()
        return max(0, registry.chain.block_number() - EventReader(registry, self.db, _STREAM).last_block())

    def check(self, patient: str, grantee: str, category: Category, purpose: Purpose) -> Grant | None:
        """The live grant that lets `grantee` see `patient`'s `category` records for `purpose`, if any."""
        now = self._clock()
        for grant in self.between(patient, grantee):
            if grant.live_at(now) and grant.covers(category, purpose):
                return grant
        return None

    def between(self, patient: str, grantee: str) -> tuple[Grant, ...]:
        """Every grant `patient` gave `grantee`, live or not, from the index held in memory (checksummed addresses)."""
        pairs = self._grant_index()
        return pairs.get((patient, grantee), ())

    def grantors(self, grantee: str, purpose: Purpose) -> frozenset[str]:
        """The patients with a live grant to `grantee` for `purpose`, of any category, from the index in memory."""
        pairs, now = self._grant_index(), self._clock()
        return frozenset(
            patient
            for (patient, to), grants in pairs.items()
            if to == grantee and any(g.live_at(now) and purpose in g.purposes for g in grants)
        )

    def care_team_restricted(self, patient: str, custodian: str, category: Category) -> bool:
        """Whether `patient` keeps `category` from `custodian`'s care team (as of the last sync)."""
        restrictions = self._restrictions
        if restrictions is None:
            with self.db.session() as session:
                restrictions = {
                    (row.patient, row.custodian): row.categories for row in session.scalars(select(CareTeamRestriction))
                }
            self._restrictions = restrictions
        return bool(restrictions.get((patient, custodian), 0) & category.bit)

    def represented(self, delegate: str) -> dict[str, frozenset[Category]]:
        """The patients `delegate` is a live delegate of (a guardian, a proxy), each with the categories delegated
        to her, from the index in memory: a delegation ended or narrowed counts from the first sync after its
        block, one that expired from its expiry (`delegation(...)` on chain, its `Delegation` events here)."""
        delegates = self._delegates
        if delegates is None:
            delegates = self._load_delegates()
        now = self._clock()
        return {
            patient: frozenset(Category.from_mask(categories))
            for patient, categories, expiry in delegates.get(delegate, ())
            if categories and now < expiry
        }

    def _grant_index(self) -> dict[tuple[str, str], tuple[Grant, ...]]:
        """The grant index, loaded again if a sync dropped it. `_pairs` is read once: read twice ("if it is not
        None, it"), a sync dropping it in between handed a request None, and the request a 500."""
        pairs = self._pairs
        return pairs if pairs is not None else self._load()

    def _load_delegates(self) -> dict[str, tuple[tuple[str, int, int], ...]]:
        with self._lock:
            if self._delegates is None:
                found: dict[str, list[tuple[str, int, int]]] = {}
                with self.db.session() as session:
                    for row in session.scalars(select(ConsentDelegation)):
                        found.setdefault(row.delegate, []).append((row.patient, row.categories, row.expiry))
                self._delegates = {delegate: tuple(rows) for delegate, rows in found.items()}
            return self._delegates

    def _load(self) -> dict[tuple[str, str], tuple[Grant, ...]]:
        with self._lock:
            if self._pairs is None:
                pairs: dict[tuple[str, str], list[Grant]] = {}
                with self.db.session() as session:
                    for row in session.scalars(select(ConsentGrant)):
                        pairs.setdefault((row.patient, row.grantee), []).append(Grant.of(row))
                self._pairs = {pair: tuple(grants) for pair, grants in pairs.items()}
            return self._pairs


def _index(session: Session, event: ChainEvent) -> tuple[str, str] | None:
    """Write one registry event into the index; the (patient, grantee) pair it touched."""
    args = event.args
    if event.name == "ConsentGranted":
        granted = grant_from_event(args).terms
        session.merge(
            ConsentGrant(
                grant_id=f"{int(args['grant_id']):#066x}",
                patient=granted.patient,
                grantee=granted.grantee,
                categories=granted.categories,
                purposes=granted.purposes,
                not_before=granted.not_before,
                expiry=granted.expiry,
                granted_by=str(args["granted_by"]),
                granted_block=event.block,
                revoked_block=None,
            )
        )
        return str(args["patient"]), str(args["grantee"])
    if event.name == "ConsentRevoked":
        row = session.get(ConsentGrant, f"{int(args['grant_id']):#066x}")
        if row is not None:
            row.revoked_block = event.block
        return str(args["patient"]), str(args["grantee"])
    if event.name == "Delegation":
        session.merge(
            ConsentDelegation(
                patient=str(args["patient"]),
                delegate=str(args["delegate"]),
                categories=int(args["categories"]),
                expiry=int(args["expiry"]),
            )
        )
    return None


def _index_restriction(session: Session, event: ChainEvent) -> None:
    args = event.args
    session.merge(
        CareTeamRestriction(
            patient=str(args["patient"]), custodian=str(args["custodian"]), categories=int(args["categories"])
        )
    )


def _pair_grants(session: Session, patient: str, grantee: str) -> tuple[Grant, ...]:
    rows = session.scalars(
        select(ConsentGrant).where(ConsentGrant.patient == patient, ConsentGrant.grantee == grantee)
    ).all()
    return tuple(Grant.of(row) for row in rows)
