"""Facade of Council.vy: the members, their proposals (batches of calls), votes, the timelock and execution.

A proposal's calls are kept on chain only as a hash; they and the proposal's words are read back from its
`ProposalCreated` event, and `execute` sends them again. `Call.of` encodes a call to another contract's facade
(what a proposal makes), and `Council.decode_call` names a call's contract, function and arguments again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from careledger.chain._facades import ContractFacade
from careledger.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from careledger.chain._chain import Chain
    from careledger.chain._signer import Signer, TxRequest


class ProposalState(IntEnum):
    """Where a proposal stands (the state constants of modules/council_proposals.vy)."""

    ACTIVE = 1
    QUEUED = 2
    READY = 3
    EXECUTED = 4
    CANCELLED = 5
    EXPIRED = 6
    OUTDATED = 7

    @property
    def label(self) -> str:
        """The state's name as people write it."""
        return self.name.lower()

    @property
    def pending(self) -> bool:
        """Whether the proposal may still take effect: open for votes, or queued and not executed."""
        return self in (ProposalState.ACTIVE, ProposalState.QUEUED, ProposalState.READY)


@dataclass(frozen=True, slots=True)
class Call:
    """One call a proposal makes: `data` to `target`, sending `value` wei."""

    target: str
    data: bytes
    value: int = 0

    @classmethod
    def of(cls, facade: ContractFacade, function: str, *args: Any) -> Call:
        """The call of `function(*args)` on the contract behind `facade`."""
        request = facade._request(function, *args)
        return cls(target=facade.address, data=request.data)


@dataclass(frozen=True, slots=True)
class DecodedCall:
    """A call read back: which contract, function and arguments (by name), or None where it is none we know."""

    call: Call
    contract: str | None
    function: str | None
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    """A proposal as the council holds it, with its calls and words from its `ProposalCreated` event."""

    proposal_id: int
    proposer: str
    state: ProposalState
    votes: int
    epoch: int
    created_at: int
    voting_ends: int
    eta: int | None
    description: str
    calls: tuple[Call, ...]
    block: int


def holds_role(facade: ContractFacade, role: bytes, account: str) -> bool:
    """Whether `account` holds `role` (its id) on a contract administered with snekmate `access_control`."""
    return bool(facade._call("hasRole", role, to_checksum_address(account)))


@dataclass(frozen=True, slots=True)
class _Created:
    """What a proposal's `ProposalCreated` event says."""

    operation: bytes
    calls: tuple[Call, ...]
    description: str
    block: int


class Council(ContractFacade):
    """The council's members, threshold and delay; proposing, voting, queueing, executing and cancelling."""

    contract_name = "Council"

    def __init__(self, chain: Chain, address: str, signer: Signer | None = None) -> None:
        super().__init__(chain, address, signer)
        self._deployed_at: int | None = None
        self._created: dict[int, _Created] = {}

    def members(self) -> list[str]:
        """The members' addresses, in the order they hold their seats."""
        return [str(member) for member in self._call("members")]

    def is_member(self, address: str) -> bool:
        """Whether `address` sits on the council."""
        return bool(self._call("is_member", to_checksum_address(address)))

    def threshold(self) -> int:
        """How many votes queue a proposal."""
        return int(self._call("threshold"))

    def delay(self) -> int:
        """Seconds a queued proposal waits before it may be executed."""
        return int(self._call("delay"))

    def voting_period(self) -> int:
        """Seconds a proposal may gather votes."""
        return int(self._call("voting_period"))

    def grace_period(self) -> int:
        """Seconds a ready proposal stays executable."""
        return int(self._call("GRACE_PERIOD"))

    def epoch(self) -> int:
        """How many times the members changed: proposals of an earlier epoch not yet queued are outdated."""
        return int(self._call("epoch"))

    def proposal_count(self) -> int:
        """How many proposals were made (the newest one's id)."""
        return int(self._call("proposal_count"))

    def has_voted(self, proposal_id: int, address: str) -> bool:
        """Whether `address` voted for the proposal."""
        return bool(self._call("has_voted", proposal_id, to_checksum_address(address)))

    def voters(self, proposal_id: int | None = None, *, since: int | None = None) -> dict[int, list[str]]:
        """Who voted for each proposal (or for one, voted since block `since`), in order: its `Voted` events."""
        filters = {"proposal_id": proposal_id} if proposal_id is not None else None
        logs = self.contract.events.Voted().get_logs(from_block=since or self._first_block(), argument_filters=filters)
        voted: dict[int, list[str]] = {}
        for log in logs:
            voted.setdefault(int(log["args"]["proposal_id"]), []).append(str(log["args"]["voter"]))
        return voted

    def proposal(self, proposal_id: int) -> ProposalRecord:
        """One proposal with its calls and words; `NotFound` for an id never used."""
        if proposal_id not in self._created:
            logs = self.contract.events.ProposalCreated().get_logs(
                from_block=self._first_block(), argument_filters={"proposal_id": proposal_id}
            )
            self._remember(logs)
        if proposal_id not in self._created:
            raise NotFound(f"no proposal {proposal_id} on the council at {self.address}")
        return self._record(proposal_id)

    def proposals(self) -> list[ProposalRecord]:
        """Every proposal, newest first (their events read in one query)."""
        self._remember(self.contract.events.ProposalCreated().get_logs(from_block=self._first_block()))
        return [self._record(proposal_id) for proposal_id in sorted(self._created, reverse=True)]

    def _first_block(self) -> int:
        if self._deployed_at is None:
            self._deployed_at = int(self._call("deployed_at"))
        return self._deployed_at

    def _remember(self, logs: Sequence[Any]) -> None:
        """Keep what a proposal's `ProposalCreated` says: it never changes, and reading logs is the slow part."""
        for created in logs:
            args = created["args"]
            calls = tuple(
                Call(target=str(t), data=bytes(d), value=int(v))
                for t, v, d in zip(args["targets"], args["amounts"], args["payloads"], strict=True)
            )
            self._created[int(args["proposal_id"])] = _Created(
                bytes(args["operation"]), calls, str(args["description"]), int(created["blockNumber"])
            )

    def _record(self, proposal_id: int) -> ProposalRecord:
        created = self._created[proposal_id]
        operation, proposer, _hash, votes, epoch, created_at, voting_ends, eta, _cancelled = self._call(
            "proposal", proposal_id
        )
        if bytes(operation) != created.operation:
            raise NotFound(f"proposal {proposal_id}'s event and its record on chain differ (a chain that was reset?)")
        return ProposalRecord(
            proposal_id=proposal_id,
            proposer=str(proposer),
            state=ProposalState(self._call("state", proposal_id)),
            votes=int(votes),
            epoch=int(epoch),
            created_at=int(created_at),
            voting_ends=int(voting_ends),
            eta=int(eta) or None,
            description=created.description,
            calls=created.calls,
            block=created.block,
        )

    def propose(self, calls: Sequence[Call], description: str) -> int:
        """Propose `calls`, in order, for `description`'s reason; the new proposal's id. The signer must be a member."""
        receipt = self._transact(self.propose_request(calls, description))
        (created,) = self.events_in(receipt, "ProposalCreated")
        return int(created.args["proposal_id"])

    def propose_request(self, calls: Sequence[Call], description: str) -> TxRequest:
        """The transaction of `propose`."""
        if not calls:
            raise ValidationError("a proposal makes at least one call")
        return self._request(
            "propose",
            [to_checksum_address(c.target) for c in calls],
            [c.value for c in calls],
            [c.data for c in calls],
            description,
        )

    def vote(self, proposal_id: int) -> ProposalState:
        """The signer's vote; the proposal's state after it (queued when this vote reached the threshold)."""
        self._transact(self.vote_request(proposal_id))
        return ProposalState(self._call("state", proposal_id))

    def vote_request(self, proposal_id: int) -> TxRequest:
        """The transaction of `vote`."""
        return self._request("vote", proposal_id)

    def queue(self, proposal_id: int) -> None:
        """Queue a proposal that has the votes the (lowered) threshold asks."""
        self._transact(self._request("queue", proposal_id))

    def execute(self, proposal_id: int, calls: Sequence[Call]) -> None:
        """Make a ready proposal's calls (given again, as proposed)."""
        self._transact(self.execute_request(proposal_id, calls))

    def execute_request(self, proposal_id: int, calls: Sequence[Call]) -> TxRequest:
        """The transaction of `execute`."""
        return self._request(
            "execute",
            proposal_id,
            [to_checksum_address(c.target) for c in calls],
            [c.value for c in calls],
            [c.data for c in calls],
        )

    def cancel(self, proposal_id: int) -> None:
        """Withdraw a proposal the signer made, until it is executed."""
        self._transact(self._request("cancel", proposal_id))

    @staticmethod
    def decode_call(call: Call, facades: Sequence[ContractFacade]) -> DecodedCall:
        """The contract, function and arguments of `call`, from the facade at its target among `facades`."""
        target = to_checksum_address(call.target)
        facade = next((f for f in facades if f.address == target), None)
        if facade is None:
            return DecodedCall(call, None, None, {})
        try:
            function, args = facade.contract.decode_function_input(call.data)
        except ValueError:
            return DecodedCall(call, facade.contract_name, None, {})
        return DecodedCall(call, facade.contract_name, str(function.fn_name), dict(args))
