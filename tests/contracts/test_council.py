"""Council.vy under titanoboa: members propose, vote k of n, wait out the timelock, execute once; refusals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.contracts.conftest import contract

DAY = 86_400
DELAY = DAY
VOTING = 7 * DAY
ACTIVE, QUEUED, READY, EXECUTED, CANCELLED, EXPIRED, OUTDATED = range(1, 8)


@dataclass
class World:
    council: Any
    token: Any
    members: list[Any]
    outsider: Any

    def propose(self, calls: list[tuple[Any, bytes]], by: Any = None, why: str = "because") -> tuple[int, Calls]:
        batch = Calls([c[0] for c in calls], [0] * len(calls), [c[1] for c in calls])
        with boa.env.prank(by or self.members[0]):
            proposal_id = int(self.council.propose(batch.targets, batch.amounts, batch.payloads, why))
        return proposal_id, batch

    def vote(self, proposal_id: int, *voters: Any) -> None:
        for voter in voters:
            with boa.env.prank(voter):
                self.council.vote(proposal_id)

    def execute(self, proposal_id: int, batch: Calls, by: Any = None) -> None:
        with boa.env.prank(by or self.outsider):
            self.council.execute(proposal_id, batch.targets, batch.amounts, batch.payloads)

    def passed(self, calls: list[tuple[Any, bytes]]) -> None:
        """Propose, vote 2 of 3, wait, execute."""
        proposal_id, batch = self.propose(calls)
        self.vote(proposal_id, *self.members[:2])
        boa.env.time_travel(seconds=DELAY)
        self.execute(proposal_id, batch)


@dataclass
class Calls:
    targets: list[Any]
    amounts: list[int]
    payloads: list[bytes]


def _call(target: Any, function: str, *args: Any) -> tuple[Any, bytes]:
    """(target address, calldata) of `target.function(*args)`."""
    return target.address, getattr(target, function).prepare_calldata(*args)


@pytest.fixture
def world(admin: Any) -> Iterator[World]:
    """Three members, 2 of 3, a day's delay; the council owns a token. The chain's clock and state are put back
    afterwards: the tests travel in time, and other modules' contracts share titanoboa's one chain. The contracts
    are deployed before the anchor: put back inside it, the deployer's nonce would hand their addresses to other
    modules' contracts, whose revert messages titanoboa would then decode with these contracts' storage."""
    members = [boa.env.generate_address(f"member-{i}") for i in range(3)]
    with boa.env.prank(admin):
        council = contract("Council").deploy(members, 2, DELAY, VOTING)
        token = contract("CareToken").deploy()
        token.transfer_ownership(council.address)
    with boa.env.anchor():
        yield World(council, token, members, boa.env.generate_address("outsider"))


def test_two_of_three_mint_cap_passes_after_the_timelock(world: World, admin: Any) -> None:
    minter = boa.env.generate_address("minter")
    proposal_id, batch = world.propose([_call(world.token, "set_minter", minter, 500)], why="grant the pharmacy 500")
    created = next(e for e in world.council.get_logs() if type(e).__name__ == "ProposalCreated")
    assert (created.proposal_id, created.description, list(created.targets)) == (
        proposal_id,
        "grant the pharmacy 500",
        [world.token.address],
    )
    assert world.council.state(proposal_id) == ACTIVE
    world.vote(proposal_id, world.members[0])
    assert world.council.state(proposal_id) == ACTIVE  # 1 of 3: not queued
    with boa.reverts("council: proposal not queued"):
        world.execute(proposal_id, batch)
    world.vote(proposal_id, world.members[1])
    assert world.council.state(proposal_id) == QUEUED
    assert world.council.proposal(proposal_id).eta == boa.env.evm.patch.timestamp + DELAY
    boa.env.time_travel(seconds=DELAY - 10)
    with boa.reverts("council: timelock not yet passed"):
        world.execute(proposal_id, batch)
    boa.env.time_travel(seconds=10)
    assert world.council.state(proposal_id) == READY
    world.execute(proposal_id, batch)
    assert world.council.state(proposal_id) == EXECUTED
    assert world.token.mint_allowance(minter) == 500
    with boa.reverts("council: proposal already executed"):
        world.execute(proposal_id, batch)
    recipient = boa.env.generate_address("recipient")
    with boa.env.prank(minter):
        world.token.mint(recipient, 300)
        with boa.reverts("token: mint exceeds the minter's cap"):
            world.token.mint(recipient, 201)
        world.token.mint(recipient, 200)
        with boa.reverts("token: caller is not a minter"):
            world.token.mint(recipient, 1)
    assert world.token.balanceOf(recipient) == 500


def test_votes_are_one_per_member_and_members_only(world: World) -> None:
    with boa.env.prank(world.outsider), boa.reverts("council: not a member"):
        world.council.propose([world.token.address], [0], [b""], "nope")
    proposal_id, _ = world.propose([_call(world.token, "set_minter", world.outsider, 1)])
    world.vote(proposal_id, world.members[0])
    with boa.reverts("council: already voted"):
        world.vote(proposal_id, world.members[0])
    with boa.reverts("council: not a member"):
        world.vote(proposal_id, world.outsider)
    with boa.reverts("council: no such proposal"):
        world.vote(proposal_id + 1, world.members[1])
    assert world.council.proposal(proposal_id).votes == 1
    assert world.council.has_voted(proposal_id, world.members[0])
    assert not world.council.has_voted(proposal_id, world.members[1])


def test_execute_takes_exactly_the_proposed_calls(world: World) -> None:
    proposal_id, batch = world.propose([_call(world.token, "set_minter", world.outsider, 5)])
    world.vote(proposal_id, *world.members[:2])
    boa.env.time_travel(seconds=DELAY)
    with boa.reverts("council: calls differ from the proposal's"):
        world.execute(
            proposal_id,
            Calls(batch.targets, batch.amounts, [_call(world.token, "set_minter", world.outsider, 10**30)[1]]),
        )
    world.execute(proposal_id, batch)
    assert world.token.mint_allowance(world.outsider) == 5


def test_a_failing_call_reverts_the_whole_batch_and_it_stays_ready(world: World) -> None:
    grant = _call(world.token, "set_minter", world.outsider, 7)
    bad = _call(world.token, "set_minter", "0x" + "00" * 20, 1)
    proposal_id, batch = world.propose([grant, bad])
    world.vote(proposal_id, *world.members[:2])
    boa.env.time_travel(seconds=DELAY)
    with boa.reverts("token: minter is the zero address"):
        world.execute(proposal_id, batch)
    assert world.token.mint_allowance(world.outsider) == 0
    assert world.council.state(proposal_id) == READY


def test_only_the_council_itself_changes_the_council(world: World) -> None:
    for member in (world.members[0], world.outsider):
        with boa.env.prank(member):
            with boa.reverts("council: only through an executed proposal"):
                world.council.add_member(world.outsider)
            with boa.reverts("council: only through an executed proposal"):
                world.council.set_threshold(1)
            with boa.reverts("council: only through an executed proposal"):
                world.council.set_delay(0)
            with boa.reverts("council: only through an executed proposal"):
                world.council.remove_member(world.members[2])


def test_member_changes_by_proposal_and_outdate_open_proposals(world: World) -> None:
    newcomer = boa.env.generate_address("newcomer")
    open_id, _ = world.propose([_call(world.token, "set_minter", world.outsider, 1)])
    world.vote(open_id, world.members[0])
    world.passed([_call(world.council, "add_member", newcomer), _call(world.council, "set_threshold", 3)])
    assert list(world.council.members()) == [*world.members, newcomer]
    assert world.council.threshold() == 3
    assert world.council.state(open_id) == OUTDATED
    with boa.reverts("council: the members changed since it was proposed; propose it again"):
        world.vote(open_id, world.members[1])
    # Removing below the threshold is refused; lowering it first in the same batch is not.
    proposal_id, batch = world.propose([_call(world.council, "remove_member", world.members[0])])
    world.vote(proposal_id, *world.members[:3])
    boa.env.time_travel(seconds=DELAY)
    world.execute(proposal_id, batch)
    assert list(world.council.members()) == [newcomer, world.members[1], world.members[2]]
    proposal_id, batch = world.propose([_call(world.council, "remove_member", newcomer)], by=world.members[1])
    world.vote(proposal_id, *world.members[1:], newcomer)
    boa.env.time_travel(seconds=DELAY)
    with boa.reverts("council: the threshold would exceed the members"):
        world.execute(proposal_id, batch)


def test_threshold_stays_between_one_and_the_members(world: World) -> None:
    with boa.env.prank(world.council.address):
        with boa.reverts("council: the threshold must be at least one"):
            world.council.set_threshold(0)
        with boa.reverts("council: the threshold would exceed the members"):
            world.council.set_threshold(4)
        with boa.reverts("council: delay out of bounds"):
            world.council.set_delay(31 * DAY)
        with boa.reverts("council: delay out of bounds"):
            world.council.set_delay(3_599)  # an hour at least: no timelock in name only
        with boa.reverts("council: delay out of bounds"):
            world.council.set_delay(0)
        with boa.reverts("council: voting period out of bounds"):
            world.council.set_voting_period(60)
    # From a sender of their own: titanoboa would name the next contract deployed at a refused one's address
    # after the refused one.
    with boa.env.prank(boa.env.generate_address("refused-deployer")):
        with boa.reverts("council: the threshold would exceed the members"):
            contract("Council").deploy(world.members[:1], 2, DELAY, VOTING)
        with boa.reverts("council: already a member"):
            contract("Council").deploy([world.members[0], world.members[0]], 1, DELAY, VOTING)
        with boa.reverts("council: delay out of bounds"):
            contract("Council").deploy(world.members, 2, 0, VOTING)


@given(ops=st.lists(st.tuples(st.sampled_from(["add", "remove", "threshold"]), st.integers(0, 6)), max_size=25))
def test_threshold_never_exceeds_the_members_nor_drops_below_one(world: World, ops: list[tuple[str, int]]) -> None:
    people = [*world.members, *(boa.env.generate_address(f"p{i}") for i in range(4))]
    with boa.env.anchor(), boa.env.prank(world.council.address):
        for op, n in ops:
            try:
                if op == "add":
                    world.council.add_member(people[n])
                elif op == "remove":
                    world.council.remove_member(people[n])
                else:
                    world.council.set_threshold(n)
            except boa.BoaError:
                pass
            seated = list(world.council.members())
            assert 1 <= world.council.threshold() <= len(seated)
            assert len(set(seated)) == len(seated)
            assert all(world.council.is_member(p) == (p in seated) for p in people)


def test_expired_and_cancelled_proposals(world: World) -> None:
    stale_id, _ = world.propose([_call(world.token, "set_minter", world.outsider, 1)])
    boa.env.time_travel(seconds=VOTING + 1)
    assert world.council.state(stale_id) == EXPIRED
    with boa.reverts("council: voting has ended"):
        world.vote(stale_id, world.members[1])
    with boa.env.prank(world.members[0]), boa.reverts("council: voting has ended"):
        world.council.cancel(stale_id)
    proposal_id, _ = world.propose([_call(world.token, "set_minter", world.outsider, 1)])
    world.vote(proposal_id, world.members[0])
    with boa.env.prank(world.members[1]), boa.reverts("council: only its proposer cancels a proposal"):
        world.council.cancel(proposal_id)
    with boa.env.prank(world.members[0]):
        world.council.cancel(proposal_id)
    assert world.council.state(proposal_id) == CANCELLED
    with boa.env.prank(world.members[0]), boa.reverts("council: proposal cancelled"):
        world.council.cancel(proposal_id)
    with boa.reverts("council: proposal cancelled"):
        world.vote(proposal_id, world.members[1])
    late_id, late = world.propose([_call(world.token, "set_minter", world.outsider, 1)])
    world.vote(late_id, *world.members[:2])
    boa.env.time_travel(seconds=DELAY + 14 * DAY + 1)
    assert world.council.state(late_id) == EXPIRED
    with boa.reverts("council: proposal expired"):
        world.execute(late_id, late)


def test_a_lowered_threshold_lets_anyone_queue_what_has_the_votes(world: World) -> None:
    open_id, batch = world.propose([_call(world.token, "set_minter", world.outsider, 3)])
    world.vote(open_id, world.members[0])
    with boa.reverts("council: not enough votes"):
        world.council.queue(open_id)
    world.passed([_call(world.council, "set_threshold", 1), _call(world.council, "set_delay", 3_600)])
    assert world.council.delay() == 3_600
    world.council.queue(open_id)
    with boa.reverts("council: timelock not yet passed"):
        world.execute(open_id, batch)
    boa.env.time_travel(seconds=3_600)
    world.execute(open_id, batch)
    assert world.token.mint_allowance(world.outsider) == 3


def test_the_old_token_owner_mints_no_more(world: World, admin: Any) -> None:
    assert world.token.owner() == world.council.address
    assert not world.token.is_minter(admin)
    with boa.env.prank(admin):
        with boa.reverts("token: caller is not a minter"):
            world.token.mint(admin, 1)
        with boa.reverts("ownable: caller is not the owner"):
            world.token.set_minter(admin, 1)
        with boa.reverts("ownable: caller is not the owner"):
            world.token.transfer_ownership(admin)


def test_a_queued_proposal_is_not_undone_by_one_member(world: World) -> None:
    """k members voted it through: neither its proposer alone, nor a proposer the council removed, cancels it."""
    proposal_id, batch = world.propose([_call(world.token, "set_minter", world.outsider, 9)], by=world.members[2])
    world.vote(proposal_id, *world.members[:2])
    assert world.council.state(proposal_id) == QUEUED
    with boa.env.prank(world.members[2]), boa.reverts("council: proposal already queued"):
        world.council.cancel(proposal_id)
    world.passed([_call(world.council, "remove_member", world.members[2])])
    assert world.council.state(proposal_id) == READY  # a change of members outdates only what is not queued
    with boa.env.prank(world.members[2]), boa.reverts("council: not a member"):
        world.council.cancel(proposal_id)
    world.execute(proposal_id, batch)
    assert world.token.mint_allowance(world.outsider) == 9
