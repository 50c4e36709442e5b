"""The trial registry as its sponsor and ethics boards use it, and what anyone may read of a trial.

```
register ─► the definition's canonical JSON ─► keccak: protocol hash; consent document ─► keccak: consent hash
          ─► Trials.register_trial (the budget escrowed from the sponsor) ─► the definition kept here (version 1)
approve  ─► the definition fetched from the sponsor's node if not held (checked against the chain; none: approved
            all the same, said in the log) ─► an ethics board approves the pending version ─► current
amend    ─► the same arms, visits, target and fees (the chain holds them) ─► a new version, pending approval
commit_seed ─► a new seed, sealed here first ─► its keccak on chain (before any enrolment)
randomise   ─► every enrolment on chain, in index order ─► the arms (`_randomise.allocate`) ─► the commitments of
               those not allocated yet, on chain (in batches)
unblind     ─► randomise what is left ─► the seed revealed on chain ─► every allocation, checked against its commitment
```

A site reads the definition of each version it works under from here: kept locally if this node registered or
fetched it, else fetched from the sponsor's node (`GET /trials/{id}/definitions/{version}`) and kept once its keccak
is the protocol hash on chain (nobody need be trusted for it). The seed never leaves the sponsor's node until the
chain reveals it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from careledger.crypto import keccak
from careledger.errors import AccessDenied, CareLedgerError, Conflict, IntegrityError, NotFound, ValidationError
from careledger.trials._forecast import SiteEnrolment, forecast, sites_to_add
from careledger.trials._nodes import Nodes
from careledger.trials._payments import payments_view
from careledger.trials._protocol import TrialProtocol, consent_hash, load_protocol, protocol_document
from careledger.trials._randomise import allocate, allocation_commitment, new_seed, seed_commitment
from careledger.trials._safety import SafetyReports
from careledger.trials._store import TrialStore
from careledger.trials._views import (
    Allocation,
    ForecastView,
    PaymentsView,
    TrialSummary,
    Unblinding,
    VersionView,
    timestamp,
)

if TYPE_CHECKING:
    from careledger.chain import Trials, TrialState, TrialVersion


_log = logging.getLogger(__name__)

# Fetches a version's definition from a node's endpoint: the node's answer (`careledger.client` over HTTP).
Fetch = Callable[[str, int, int], Any]


def _fetch(endpoint: str, trial_id: int, version: int) -> Any:
    from careledger.client import FhirClient  # httpx: imported when a definition is fetched

    with FhirClient(endpoint, timeout=10.0) as client:
        return client.trial_definition(trial_id, version)


class TrialRegistry:
    """Trials registered, approved, amended, seeded, randomised and unblinded, their sites and escrow, and what
    anyone reads of them."""

    def __init__(
        self,
        trials: Callable[..., Trials],
        store: TrialStore,
        safety: SafetyReports,
        nodes: Nodes,
        *,
        address_of: Callable[[str], str],
        fetch: Fetch = _fetch,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        """`trials(as_wallet=…)`: the Trials contract, signing as one of this node's wallets (none: read only);
        `address_of(wallet)` is a wallet's address."""
        self._trials = trials
        self._store = store
        self._safety = safety
        self._nodes = nodes
        self._address_of = address_of
        self._fetch = fetch
        self._today = today

    # The sponsor and the boards ------------------------------------------------------------

    def register(self, as_wallet: str, protocol: TrialProtocol) -> TrialSummary:
        """Register a trial as `as_wallet` (its sponsor, a researcher kept here), escrowing its budget; its definition
        is kept here as version 1, pending an ethics board's approval."""
        from careledger.chain import TrialTerms

        document = protocol_document(protocol)
        terms = TrialTerms(
            protocol_hash=keccak(document),
            consent_hash=consent_hash(protocol),
            target=protocol.target,
            ratios=tuple(arm.ratio for arm in protocol.arms),
            block_multiples=tuple(protocol.block_multiples),
            visits=len(protocol.visits),
            site_fee=protocol.site_fee,
            stipend=protocol.stipend,
            budget=protocol.budget,
            sites=tuple(protocol.sites),
        )
        self._store.keep_draft(document)  # kept before the chain holds its hash: never a trial nobody can read
        trial_id = self._trials(as_wallet=as_wallet).register_trial(terms)
        self._store.keep_definition(trial_id, 1, document)
        return self.show(trial_id)

    def approve(self, as_wallet: str, trial_id: int, version: int | None = None) -> TrialSummary:
        """Approve a trial's pending version (`version`, else the latest) as `as_wallet`, an ethics board. A board
        should see what it approves: a definition not held here is fetched from the sponsor's node first and kept
        once its keccak is the protocol hash on chain (the summary then has its title). If it cannot be, the
        approval still goes ahead (the chain, not this node, decides it), said in the log; its title stays None."""
        state = self._trials().trial(trial_id)
        wanted = version or state.latest_version
        if 1 <= wanted <= state.latest_version and self._document(trial_id, wanted) is None:
            try:
                self._fetched(state, wanted)
            except CareLedgerError as missing:
                _log.warning("trial %d version %d approved without its definition: %s", trial_id, wanted, missing)
        self._trials(as_wallet=as_wallet).approve_version(trial_id, wanted)
        return self.show(trial_id)

    def amend(self, as_wallet: str, trial_id: int, protocol: TrialProtocol, *, reconsent: bool) -> TrialSummary:
        """Amend a trial as its sponsor: the amended definition becomes a new version, pending approval; `reconsent`:
        once approved, each participant's next visit waits until she signs its consent document. An amendment keeps
        what the chain holds of the trial (`ValidationError` naming what it changes)."""
        state = self._trials().trial(trial_id)
        _check_same_terms(self._trials(), state, protocol)
        document = protocol_document(protocol)
        trials = self._trials(as_wallet=as_wallet)
        self._store.keep_draft(document)
        version = trials.amend(trial_id, keccak(document), consent_hash(protocol), reconsent)
        self._store.keep_definition(trial_id, version, document)
        return self.show(trial_id)

    def add_site(self, as_wallet: str, trial_id: int, site: str) -> TrialSummary:
        """Add a site (an organisation's node) to a trial, as its sponsor."""
        self._trials(as_wallet=as_wallet).add_site(trial_id, site)
        return self.show(trial_id)

    def remove_site(self, as_wallet: str, trial_id: int, site: str) -> TrialSummary:
        """Stop a site enrolling, as the trial's sponsor (a site its monitors no longer trust, or one that closed):
        the participants it enrolled stay its own, and their visits are paid as before."""
        self._trials(as_wallet=as_wallet).remove_site(trial_id, site)
        return self.show(trial_id)

    def top_up(self, as_wallet: str, trial_id: int, amount: int) -> TrialSummary:
        """Add `amount` CARE base units to a running trial's escrow from `as_wallet` (the sponsor, or any wallet kept
        here: the contract takes anyone's), so that it holds more participants' visits; an enrolment it cannot hold
        is refused (`trials: escrow short`). `ValidationError` naming `amount` unless it is a whole number above 0."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValidationError(f"amount: a whole number of CARE base units above 0, not {amount!r}")
        self._trials(as_wallet=as_wallet).top_up(trial_id, amount)
        return self.show(trial_id)

    def return_escrow(self, as_wallet: str, trial_id: int) -> int:
        """Give the sponsor `as_wallet` back, after unblinding, what the escrow holds beyond what the visits still
        ahead may cost (those stay covered): the amount returned, in CARE base units. Refused before unblinding and
        when nothing is left beyond what is owed."""
        return self._trials(as_wallet=as_wallet).return_escrow(trial_id)

    def commit_seed(self, as_wallet: str, trial_id: int) -> TrialSummary:
        """Draw the trial's randomisation seed, keep it sealed here, and commit its keccak on chain as the sponsor
        `as_wallet` (once, before any enrolment: `Conflict` if committed already)."""
        state = self._trials().trial(trial_id)
        sponsor = self._address_of(as_wallet)
        if sponsor != state.sponsor:
            raise AccessDenied(f"{as_wallet} ({sponsor}) is not trial {trial_id}'s sponsor: only it commits the seed")
        if state.seed_committed:
            raise Conflict(f"trial {trial_id}'s seed is committed already: it is revealed at unblinding, never redrawn")
        seed = new_seed()
        self._store.keep_seed(trial_id, sponsor, seed)  # kept before the chain holds its hash: never lost after
        self._trials(as_wallet=as_wallet).commit_seed(trial_id, seed_commitment(seed))
        return self.show(trial_id)

    def randomise(self, as_wallet: str, trial_id: int) -> int:
        """Allocate, as the sponsor `as_wallet`, every participant enrolled and not allocated yet: each arm's
        commitment on chain; how many. `Conflict` before the seed is committed."""
        state = self._trials().trial(trial_id)
        seed = self._seed(state)
        arms = self._arms(state, seed)
        done = {a.participant for a in self._trials().allocations(trial_id)}
        pairs = [
            (participant, allocation_commitment(seed, trial_id, participant, arm))
            for (participant, _, _, _), arm in arms
            if participant not in done
        ]
        if pairs:
            self._trials(as_wallet=as_wallet).allocate(trial_id, pairs)
        return len(pairs)

    def unblind(self, as_wallet: str, trial_id: int) -> Unblinding:
        """End the trial's blinding as its sponsor: allocate whoever is left, reveal the seed on chain (which ends
        enrolment), and tell every allocation, each checked against the commitment on chain."""
        self.randomise(as_wallet, trial_id)
        state = self._trials().trial(trial_id)
        seed = self._seed(state)
        if state.blinded:
            self._trials(as_wallet=as_wallet).reveal(trial_id, seed)
        committed = {a.participant: a.commitment for a in self._trials().allocations(trial_id)}
        names = self._arm_names(trial_id, state)
        allocations = []
        for (participant, index, site, stratum), arm in self._arms(state, seed):
            if committed.get(participant) != allocation_commitment(seed, trial_id, participant, arm):
                raise IntegrityError(f"participant 0x{participant.hex()}'s allocation on chain is not arm {arm}'s")
            code, name = names[arm]
            allocations.append(Allocation("0x" + participant.hex(), index, site, stratum, arm, code, name))
        return Unblinding(trial_id, "0x" + seed.hex(), tuple(allocations))

    def _seed(self, state: TrialState) -> bytes:
        if not state.seed_committed:
            raise Conflict(f"trial {state.trial_id}'s seed is not committed yet: nothing is randomised before it is")
        seed = self._store.seed(state.trial_id, state.seed_hash)
        if seed is None:
            raise NotFound(
                f"this node keeps no seed of trial {state.trial_id} whose hash is the one on chain: its sponsor's node"
                " randomises it"
            )
        return seed

    def _arms(self, state: TrialState, seed: bytes) -> list[tuple[tuple[bytes, int, str, int], int]]:
        """Each enrolment on chain (participant, index, site, stratum), in index order, with its arm."""
        trials = self._trials()
        enrolments = trials.enrolments(state.trial_id)
        arms = allocate(
            seed,
            state.trial_id,
            trials.ratios(state.trial_id),
            trials.block_multiples(state.trial_id),
            [(e.participant, e.stratum) for e in enrolments],
        )
        return [((e.participant, e.index, e.site, e.stratum), arm) for e, arm in zip(enrolments, arms, strict=True)]

    def _arm_names(self, trial_id: int, state: TrialState) -> list[tuple[str, str]]:
        try:
            return [(arm.code, arm.name) for arm in self.protocol(trial_id).arms]
        except NotFound:
            return [(str(arm), f"arm {arm}") for arm in range(state.arms)]

    # What anyone reads ------------------------------------------------------------------------

    def show(self, trial_id: int) -> TrialSummary:
        """A trial as the chain holds it (`NotFound` if there is none), named from its definition if held here."""
        trials = self._trials()
        state = trials.trial(trial_id)
        versions = tuple(_version_view(trials.version(trial_id, v)) for v in range(1, state.latest_version + 1))
        held = self._held(trial_id, state.current_version or state.latest_version)
        arms = tuple(a.name for a in held.arms) if held else tuple(f"arm {a}" for a in range(state.arms))
        return TrialSummary(
            trial_id=trial_id,
            title=held.title if held else None,
            phase=held.phase if held else None,
            sponsor=state.sponsor,
            target=state.target,
            enrolled=state.enrolled,
            withdrawn=state.withdrawn,
            visits=state.visits,
            site_fee=state.site_fee,
            stipend=state.stipend,
            budget=state.budget,
            escrow=state.escrow,
            owed=state.owed,
            current_version=state.current_version,
            latest_version=state.latest_version,
            reconsent_from=state.reconsent_from,
            seed_committed=state.seed_committed,
            blinded=state.blinded,
            revealed_at=timestamp(state.revealed_at),
            arms=arms,
            sites=tuple(trials.sites(trial_id)),
            versions=versions,
        )

    def all(self) -> list[TrialSummary]:
        """Every trial registered, the newest first."""
        return [self.show(i) for i in range(self._trials().trial_count(), 0, -1)]

    def protocol(self, trial_id: int, version: int | None = None) -> TrialProtocol:
        """A version's definition (`version`, else the current one, else the latest): held here, or fetched from the
        sponsor's node and checked against its hash on chain. `NotFound` if neither has it."""
        state = self._trials().trial(trial_id)
        wanted = version or state.current_version or state.latest_version
        if not 1 <= wanted <= state.latest_version:
            raise NotFound(f"trial {trial_id} has no version {wanted}")
        document = self._document(trial_id, wanted)
        if document is None:
            document = self._fetched(state, wanted)
        return load_protocol(document)

    def _held(self, trial_id: int, version: int) -> TrialProtocol | None:
        document = self._document(trial_id, version) if version else None
        return None if document is None else load_protocol(document)

    def _document(self, trial_id: int, version: int) -> bytes | None:
        """A version's definition held here: kept as that version, else the draft kept before its transaction whose
        keccak is the version's protocol hash (a crash between the two), kept as that version now."""
        document = self._store.definition(trial_id, version)
        if document is not None:
            return document
        try:
            draft = self._store.draft(self._trials().version(trial_id, version).protocol_hash)
        except NotFound:
            return None
        if draft is not None:
            self._store.keep_definition(trial_id, version, draft)
        return draft

    def definition(self, trial_id: int, version: int) -> bytes:
        """The definition document of a version, as held here (what `GET /trials/{id}/definitions/{version}` serves:
        no PHI); `NotFound` if not held here."""
        document = self._store.definition(trial_id, version) or self._document(trial_id, version)
        if document is None:
            raise NotFound(f"this node holds no definition of trial {trial_id} version {version}")
        return document

    def adopt(self, trial_id: int, document: bytes) -> int:
        """Keep a definition document of a trial (brought by hand, or fetched), if its keccak is the protocol hash
        of one of its versions on chain: which one. `ValidationError` if it is none of them."""
        trials = self._trials()
        hashed = keccak(document)
        for version in range(1, trials.trial(trial_id).latest_version + 1):
            if trials.version(trial_id, version).protocol_hash == hashed:
                load_protocol(document)  # a document the chain names but this node cannot read is no use
                self._store.keep_definition(trial_id, version, document)
                return version
        raise ValidationError(f"that document's keccak is the protocol hash of no version of trial {trial_id}")

    def _fetched(self, state: TrialState, version: int) -> bytes:
        """A version's definition from the sponsor's node, kept once it matches the chain."""
        try:
            endpoint = self._nodes.endpoint(self._nodes.node(state.sponsor))
        except NotFound as exc:
            raise NotFound(
                f"this node holds no definition of trial {state.trial_id} version {version}, and cannot ask the"
                f" sponsor's node for it: {exc}"
            ) from None
        try:
            document = str(self._fetch(endpoint, state.trial_id, version)["document"]).encode()
        except (KeyError, TypeError) as exc:
            raise IntegrityError(f"the sponsor's node sent no definition document: {exc}") from None
        if self.adopt(state.trial_id, document) != version:
            raise IntegrityError(f"the sponsor's node sent another version's definition, not version {version}")
        return document

    def enrolment(self, trial_id: int) -> list[SiteEnrolment]:
        """Each site's enrolment so far (withdrawn participants count: they were recruited), open since the day it
        could first enrol: made a site of the trial, and the seed committed."""
        trials = self._trials()
        counts = Counter(e.site for e in trials.enrolments(trial_id))
        openings = trials.site_openings(trial_id)
        days = {block: min(self._day(block), self._today()) for block in set(openings.values())}
        return [SiteEnrolment(site, days[block], counts.get(site, 0)) for site, block in openings.items()]

    def forecast(self, trial_id: int, *, today: date | None = None, deadline: date | None = None) -> ForecastView:
        """When the target will be reached (the Poisson-gamma model fitted to each site's enrolment so far: median
        and 90% interval), with the enrolment so far day by day; for a `deadline`, the chance the sites open now
        reach it by then and how many sites to add (opening tomorrow, the earliest a new one can) to make it 90%."""
        state = self._trials().trial(trial_id)
        day = today or self._today()
        sites = self.enrolment(trial_id)
        predicted = forecast(sites, state.target, day, deadline=deadline)
        more = None
        if deadline is not None:
            opening = day + timedelta(days=1)
            more = 0 if predicted.reached else sites_to_add(sites, state.target, day, deadline, opening=opening)
        return ForecastView(trial_id, tuple(sites), predicted, deadline, more, self._history(trial_id))

    def _day(self, block: int) -> date:
        """The day (UTC) of a block of the chain."""
        return datetime.fromtimestamp(self._trials().chain.timestamp(block), UTC).date()

    def _history(self, trial_id: int) -> tuple[tuple[date, int], ...]:
        """The trial's cumulative enrolment by the end of each day someone enrolled, from its enrolments' blocks."""
        trials = self._trials()
        days: dict[int, date] = {}
        by_day: Counter[date] = Counter()
        for enrolment in trials.enrolments(trial_id):
            if enrolment.block not in days:
                days[enrolment.block] = self._day(enrolment.block)
            by_day[days[enrolment.block]] += 1
        total, history = 0, []
        for day in sorted(by_day):
            total += by_day[day]
            history.append((day, total))
        return tuple(history)

    def payments(self, trial_id: int) -> PaymentsView:
        """What the trial's escrow paid, per site and per participant id, the stipends it holds for participants
        with no payee yet, and what it holds and still owes."""
        return payments_view(self._trials(), trial_id)

    def safety_reports(self, trial_id: int, reader: str) -> list[dict[str, Any]]:
        """The serious adverse events' reports this node received for a trial, for its sponsor or an ethics board
        that approved it (`reader`, an address); `AccessDenied` for anyone else."""
        return self._safety.read(trial_id, reader)

    def accept_safety_report(self, body: object) -> dict[str, Any]:
        """A site node's signed safety report to this node (`POST /trials/safety-reports`), kept sealed for the
        trial's sponsor and boards if it holds (`_safety`): the trial, the site, and whether it was new. A refusal
        (4xx) is audited and nothing is kept."""
        return self._safety.accept(body)


def _version_view(found: TrialVersion) -> VersionView:
    return VersionView(
        found.version,
        "0x" + found.protocol_hash.hex(),
        "0x" + found.consent_hash.hex(),
        found.reconsent,
        found.approved_by,
        timestamp(found.approved_at),
    )


def _check_same_terms(trials: Trials, state: TrialState, protocol: TrialProtocol) -> None:
    """`ValidationError` naming what an amendment changes of what the chain holds of the trial."""
    changed: Sequence[str] = [
        name
        for name, held, amended in (
            ("arms' ratios", tuple(trials.ratios(state.trial_id)), tuple(a.ratio for a in protocol.arms)),
            ("block multiples", tuple(trials.block_multiples(state.trial_id)), tuple(protocol.block_multiples)),
            ("number of visits", state.visits, len(protocol.visits)),
            ("target", state.target, protocol.target),
            ("site fee", state.site_fee, protocol.site_fee),
            ("stipend", state.stipend, protocol.stipend),
        )
        if held != amended
    ]
    if changed:
        raise ValidationError(
            f"an amendment keeps what the chain holds of trial {state.trial_id}; this one changes its "
            + ", ".join(changed)
        )
