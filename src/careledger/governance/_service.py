"""The council as a node's members see it: who sits on it, what is proposed, voting, executing, bootstrap.

```
member node ─propose(action, reason)─► Council: proposal n (calls + words in its event)
member nodes ─vote(n)─► ... the k-th vote queues it in the timelock (eta = now + delay)
anyone ─execute(n) after eta─► the calls, in order, all or none
```

Every refusal the contract would make is made here first, in words that say what to do (not a member,
voted already, too early and until when, how many votes are missing), before any gas is spent. The read
side (`council`, `members`, `proposals`, `show`) is what faces list and show; it signs nothing.

Who acts for the node (proposes, votes, executes, cancels: its wallet signs and pays) is decided here, once, for
every face (`may_act`): the node itself, that is its operator, or a person to whom this node attested a
`governance-officer` credential the chain holds valid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from careledger.chain import Council, ProposalRecord, ProposalState, holds_role
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.governance._actions import (
    DEFAULT_ADMIN_ROLE,
    REGULATOR_ROLE,
    VOTING_PERIOD_BOUNDS,
    Action,
    AppointRegulator,
    Targets,
    check_delay,
    parse_address,
)
from careledger.governance._admission import role_holders
from careledger.governance._bootstrap import handover, kept
from careledger.governance._words import call_words, format_duration, plain_args
from careledger.identity import GOVERNANCE_OFFICER

if TYPE_CHECKING:
    from careledger.chain import Contracts

# The most members a council seats, and the longest reason (modules/council_*.vy).
MAX_MEMBERS = 32
MAX_REASON_BYTES = 1_024


@dataclass(frozen=True, slots=True)
class CouncilView:
    """The council: its address, members, threshold and timing."""

    address: str
    members: list[str]
    threshold: int
    delay: int
    voting_period: int
    grace_period: int

    def to_json(self) -> dict[str, Any]:
        """As `governance members --json` prints it."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CallView:
    """One call of a proposal: where it goes, what it is, in words."""

    target: str
    contract: str | None
    function: str | None
    args: dict[str, Any]
    value: int
    words: str


@dataclass(frozen=True, slots=True)
class ProposalView:
    """A proposal as members read it: its state, votes, timing and each call in words."""

    proposal_id: int
    state: ProposalState
    proposer: str
    reason: str
    votes: int
    needed: int
    voters: list[str]
    created_at: int
    voting_ends: int
    eta: int | None
    executable_until: int | None
    calls: list[CallView]

    def to_json(self) -> dict[str, Any]:
        """As `governance show --json` prints it (times in seconds since the epoch, the chain's clock)."""
        data = asdict(self)
        data["state"] = self.state.label
        return data


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """What `bootstrap` did: the council, each handover step (done now, or found done), and, in words, each role
    the deploying node keeps: none is an admin role, each is one the council grants and revokes."""

    council: CouncilView
    steps: list[tuple[str, bool]]
    kept: list[str]

    def to_json(self) -> dict[str, Any]:
        """As `governance bootstrap --json` prints it."""
        steps = [{"step": w, "done_now": n} for w, n in self.steps]
        return {"council": self.council.to_json(), "steps": steps, "kept": self.kept}


class Governance:
    """The council of this node's network, as seen and used by this node (its wallet is the member)."""

    def __init__(self, contracts: Contracts, address: str, wallet: str) -> None:
        self._contracts = contracts
        self._address = address
        self._wallet = wallet

    def bootstrapped(self) -> bool:
        """Whether the network has its council (`bootstrap` was run)."""
        return self._contracts.council_address() is not None

    def council(self) -> CouncilView:
        """The council; `NotFound` before bootstrap, saying who bootstraps it."""
        council = self._council()
        return CouncilView(
            address=council.address,
            members=council.members(),
            threshold=council.threshold(),
            delay=council.delay(),
            voting_period=council.voting_period(),
            grace_period=council.grace_period(),
        )

    def members(self) -> list[str]:
        """The members' addresses."""
        return self._council().members()

    def proposals(self, *, pending_only: bool = True) -> list[ProposalView]:
        """Proposals, newest first: only those that may still take effect (open, queued, ready), or all."""
        council = self._council()
        voters = council.voters()
        threshold = council.threshold()
        return [
            self._view(record, voters.get(record.proposal_id, []), threshold)
            for record in council.proposals()
            if record.state.pending or not pending_only
        ]

    def show(self, proposal_id: int) -> ProposalView:
        """One proposal with its votes, eta, state and each call in words; `NotFound` for an unknown id."""
        council = self._council()
        record = council.proposal(proposal_id)
        voters = council.voters(proposal_id, since=record.block).get(proposal_id, [])
        return self._view(record, voters, council.threshold())

    def may_act(self, actor: str) -> bool:
        """Whether `actor` acts for this node on the council (its wallet signs her proposals, votes, executions and
        cancellations): this node itself (its operator), or its live governance officer, as the chain judges her
        (an active actor whose newest `governance-officer` credential this node attested, unexpired, unrevoked, from
        an issuer still holding ISSUER_ROLE). Another node's officer is not this node's."""
        actor = parse_address(actor)
        if actor.lower() == self._address.lower():
            return True
        return self._contracts.identity_registry().valid_credential_from(actor, GOVERNANCE_OFFICER, self._address)

    def require_may_act(self, actor: str) -> None:
        """`AccessDenied` unless `actor` acts for this node on the council (`may_act`)."""
        if not self.may_act(actor):
            raise AccessDenied(f"acting for this node on the council takes its {GOVERNANCE_OFFICER} credential")

    def propose(self, action: Action, reason: str, *, by: str | None = None) -> ProposalView:
        """Propose `action` for `reason` (public on chain: never a patient's name); this node must be a member.
        `by`: who acts for the node (`may_act`) [default: the node itself, its operator]."""
        self._acting(by)
        council = self._member_council()
        reason = reason.strip()
        if not reason:
            raise ValidationError("a proposal says why: give a reason")
        if len(reason.encode()) > MAX_REASON_BYTES:
            raise ValidationError(f"a reason is at most {MAX_REASON_BYTES} bytes")
        targets = self._targets()
        action.check(targets)
        proposal_id = council.propose(action.calls(targets), reason)
        return self.show(proposal_id)

    def vote(self, proposal_id: int, *, by: str | None = None) -> ProposalView:
        """This node's vote for an open proposal; the vote that reaches the threshold queues it. `by`: as `propose`."""
        self._acting(by)
        council = self._member_council()
        record = council.proposal(proposal_id)
        if record.state is not ProposalState.ACTIVE:
            raise Conflict(f"proposal {proposal_id} takes no more votes: it is {self._standing(record, council)}")
        if council.has_voted(proposal_id, self._address):
            raise Conflict(f"this node ({self._address}) already voted for proposal {proposal_id}")
        council.vote(proposal_id)
        return self.show(proposal_id)

    def execute(self, proposal_id: int, *, by: str | None = None) -> ProposalView:
        """Make a ready proposal's calls (any node may); refused, saying why, before it is ready. `by`: as
        `propose`."""
        self._acting(by)
        council = self._council()
        record = council.proposal(proposal_id)
        if record.state is not ProposalState.READY:
            raise Conflict(f"proposal {proposal_id} is {self._standing(record, council)}")
        self._contracts.council(as_wallet=self._wallet).execute(proposal_id, record.calls)
        return self.show(proposal_id)

    def cancel(self, proposal_id: int, *, by: str | None = None) -> ProposalView:
        """Withdraw a proposal this node made while it is open: queued by k votes, it stands. `by`: as `propose`."""
        self._acting(by)
        council = self._member_council()
        record = council.proposal(proposal_id)
        if record.proposer != self._address:
            raise AccessDenied(f"only its proposer ({record.proposer}) cancels proposal {proposal_id}")
        if record.state is not ProposalState.ACTIVE:
            raise Conflict(f"proposal {proposal_id} is {record.state.label}: only an open proposal is cancelled")
        council.cancel(proposal_id)
        return self.show(proposal_id)

    def bootstrap(self, members: list[str], threshold: int, delay: int, voting_period: int) -> Bootstrapped:
        """Seat the council and hand it every admin role, this node (the deployer) keeping none, only roles the
        council grants and revokes (a member node's, and its ISSUER_ROLE, so that the credentials it attested stay
        valid: `Bootstrapped.kept` says so); run once, by the node that deployed the contracts (run again, it
        finishes an interrupted bootstrap)."""
        seats = _check_seats(members, threshold, delay, voting_period)
        if not self.bootstrapped():
            anchor, token = self._contracts.record_anchor(), self._contracts.token()
            if not anchor.is_admin(self._address) or token.owner() != self._address:
                raise AccessDenied(
                    f"this node ({self._address}) does not administer the contracts: the node that deployed them "
                    "bootstraps the council"
                )
            self._contracts.deploy_council(seats, threshold, delay, voting_period)
        targets = self._targets()
        steps = handover(targets, targets.council.address, self._address)
        pending = [step for step in steps if not step.done()]
        if not pending:
            raise Conflict(f"the council at {targets.council.address} is bootstrapped already")
        self._contracts.send([step.call for step in pending], as_wallet=self._wallet)
        done = [(step.words, step in pending) for step in steps]
        return Bootstrapped(self.council(), done, kept(targets, self._address))

    def regulators(self) -> list[str]:
        """SupplyChain's regulators (who admit manufacturers and may recall any lot), in the order they were first
        appointed: each account a RoleGranted log names that holds REGULATOR_ROLE still."""
        return role_holders(self._contracts.supply_chain(), REGULATOR_ROLE)

    def appoint_regulator(self, regulator: str, *, by: str | None = None) -> list[str]:
        """Appoint a supply chain regulator as SupplyChain's admin, this node (its deployer) until the council is
        bootstrapped; after, the council decides (`AppointRegulator` proposed), and this is refused saying so. The
        regulators now. `by`: as `propose`."""
        return self._as_admin(AppointRegulator(parse_address(regulator)), by)

    def remove_regulator(self, regulator: str, *, by: str | None = None) -> list[str]:
        """End a regulator's appointment, as `appoint_regulator` makes one: the admissions it made stand."""
        return self._as_admin(AppointRegulator(parse_address(regulator), appoint=False), by)

    def _as_admin(self, action: AppointRegulator, by: str | None) -> list[str]:
        """Make the action's call as SupplyChain's admin, refused (`AccessDenied`) unless this node is it: before
        bootstrap the deployer, after it the council, whose members propose it."""
        self._acting(by)
        supply = self._contracts.supply_chain()
        if not holds_role(supply, DEFAULT_ADMIN_ROLE, self._address):
            council = self._contracts.council_address()
            if council is not None and holds_role(supply, DEFAULT_ADMIN_ROLE, council):
                raise AccessDenied(
                    f"the council holds SupplyChain's admin role since it was bootstrapped: propose it there, "
                    f"`careledger governance propose {action.name} {action.regulator} --reason …`"
                )
            raise AccessDenied(
                f"this node ({self._address}) does not administer SupplyChain {supply.address}: the node that deployed "
                "the contracts appoints regulators until it bootstraps the council, which decides from then on"
            )
        action.check_held(supply)
        self._contracts.send(action.calls_on(supply), as_wallet=self._wallet)
        return self.regulators()

    def _view(self, record: ProposalRecord, voters: list[str], threshold: int) -> ProposalView:
        facades = self._targets().facades()
        calls = []
        for call in record.calls:
            decoded = Council.decode_call(call, facades)
            calls.append(
                CallView(
                    target=call.target,
                    contract=decoded.contract,
                    function=decoded.function,
                    args=plain_args(decoded),
                    value=call.value,
                    words=call_words(decoded),
                )
            )
        grace = self._council().grace_period()
        return ProposalView(
            proposal_id=record.proposal_id,
            state=record.state,
            proposer=record.proposer,
            reason=record.description,
            votes=record.votes,
            needed=threshold,
            voters=voters,
            created_at=record.created_at,
            voting_ends=record.voting_ends,
            eta=record.eta,
            executable_until=record.eta + grace if record.eta else None,
            calls=calls,
        )

    def _standing(self, record: ProposalRecord, council: Council) -> str:
        """Where a proposal stands, in the words a refusal gives."""
        now = self._contracts.chain.timestamp()
        if record.state is ProposalState.ACTIVE:
            return f"open: it has {record.votes} of the {council.threshold()} votes it needs"
        if record.state is ProposalState.QUEUED and record.eta is not None:
            wait = format_duration(record.eta - now)
            return f"queued: too early, it may be executed from {_when(record.eta)} (in {wait})"
        if record.state is ProposalState.READY:
            return "ready: it may be executed now"
        if record.state is ProposalState.OUTDATED:
            return "outdated: the council's members changed since it was proposed; propose it again"
        return record.state.label

    def _acting(self, by: str | None) -> None:
        """Refuse, before anything is read or sent, someone who does not act for this node."""
        if by is not None:
            self.require_may_act(by)

    def _council(self) -> Council:
        if not self.bootstrapped():
            raise NotFound(
                "this network has no council yet: the node that deployed the contracts runs "
                "`careledger governance bootstrap`"
            )
        return self._contracts.council()

    def _member_council(self) -> Council:
        council = self._council()
        if not council.is_member(self._address):
            raise AccessDenied(f"this node ({self._address}) is not a member of the council")
        return self._contracts.council(as_wallet=self._wallet)

    def _targets(self) -> Targets:
        contracts = self._contracts
        return Targets(
            council=self._council(),
            identity=contracts.identity_registry(),
            anchor=contracts.record_anchor(),
            claims=contracts.claims(),
            token=contracts.token(),
            supply=contracts.supply_chain(),
        )


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_seats(members: list[str], threshold: int, delay: int, voting_period: int) -> list[str]:
    """The founding members, checksummed and checked with the council's bounds."""
    seats = [parse_address(member) for member in members]
    if not seats:
        raise ValidationError("a council has at least one member: --member ADDRESS (repeat it)")
    if len(set(seats)) != len(seats):
        raise ValidationError("a member is named twice")
    if len(seats) > MAX_MEMBERS:
        raise ValidationError(f"a council seats at most {MAX_MEMBERS} members")
    if not 1 <= threshold <= len(seats):
        raise ValidationError(f"the threshold is 1 to the {len(seats)} members, not {threshold}")
    check_delay(delay)
    low, high = VOTING_PERIOD_BOUNDS
    if not low <= voting_period <= high:
        raise ValidationError(f"the voting period is {low} to {high} seconds, not {voting_period}")
    return seats
