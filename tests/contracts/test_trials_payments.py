"""Trials.vy under titanoboa: each visit whose leaf its site anchored in a batch of records pays the site's fee and the
participant's stipend from the escrow, in order and once per leaf; a stipend with no payee is held until her site names
one; re-consent, allocation, withdrawal and the site's standing gate it; the sponsor takes back the rest after
unblinding."""

from __future__ import annotations

import boa
from boa.contracts.base_evm_contract import BoaError
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contracts.trials import (
    AUDIT,
    PER_PARTICIPANT,
    SITE_FEE,
    STIPEND,
    VISITS,
    ZERO,
    World,
    participant_id,
    world_fixture,
)

__all__ = ["world_fixture"]


def _crf(participant: bytes, visit: int) -> bytes:
    """A visit's CRF commitment: the leaf a site's node anchors for its QuestionnaireResponse version."""
    return keccak(b"crf " + participant + bytes([visit]))


def _ready(world: World, people: int = 2, **terms: object) -> tuple[int, list[bytes]]:
    """A trial with `people` participants enrolled at site 0 and allocated."""
    trial_id = world.open_trial(**terms)
    participants = [world.enrol(trial_id, n) for n in range(people)]
    world.allocate(trial_id, participants)
    return trial_id, participants


def test_an_anchored_visit_pays_the_site_its_fee_and_the_payee_her_stipend(world: World) -> None:
    trial_id, (her, _) = _ready(world)
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, keccak(b"another record"), keccak(b"a third")])
    world.pay(trial_id, her, 1, tree, leaf)
    gas = world.trials._computation.get_gas_used()
    print(f"\nTrials.pay_visit: {gas:,} gas (execution, no 21,000 base)")
    (paid,) = world.events("VisitPaid")
    assert (paid.trial_id, paid.participant, paid.site, paid.visit) == (trial_id, her, world.sites[0], 1)
    assert (paid.site_fee, paid.stipend, paid.crf_leaf, paid.held) == (SITE_FEE, STIPEND, leaf, False)
    assert world.token.balanceOf(world.sites[0]) == SITE_FEE
    assert world.token.balanceOf(world.payee(0)) == STIPEND
    trial = world.trials.trial(trial_id)
    visit = SITE_FEE + STIPEND
    assert (trial.escrow, trial.owed) == (5 * PER_PARTICIPANT - visit, 2 * PER_PARTICIPANT - visit)
    assert world.trials.participant(trial_id, her).visits_paid == 1
    assert world.trials.crf_paid(leaf)
    assert world.trials.held(trial_id, her) == 0
    assert gas < 120_000


def test_every_visit_pays_in_order_up_to_the_last(world: World) -> None:
    trial_id, (her, _) = _ready(world)
    leaves = [_crf(her, visit) for visit in range(1, VISITS + 2)]
    tree = world.anchor_crfs(leaves)
    with boa.reverts("trials: visit out of order"):
        world.pay(trial_id, her, 2, tree, leaves[1])
    for visit in range(1, VISITS + 1):
        world.pay(trial_id, her, visit, tree, leaves[visit - 1])
    with boa.reverts("trials: visit out of order"):
        world.pay(trial_id, her, VISITS + 1, tree, leaves[VISITS])
    assert world.token.balanceOf(world.payee(0)) == VISITS * STIPEND
    assert world.trials.participant(trial_id, her).visits_paid == VISITS
    assert world.trials.trial(trial_id).owed == PER_PARTICIPANT  # the other participant's visits


def test_a_crf_that_is_not_anchored_pays_nothing(world: World) -> None:
    trial_id, (her, _) = _ready(world)
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, keccak(b"another record")])
    with boa.env.prank(world.sites[0]), boa.reverts("trials: CRF not anchored"):
        world.trials.pay_visit(trial_id, her, 1, leaf, tree.root, [keccak(b"a wrong sibling")])
    forged = _crf(her, 9)  # a proof for another leaf does not prove this one
    with boa.env.prank(world.sites[0]), boa.reverts("trials: CRF not anchored"):
        world.trials.pay_visit(trial_id, her, 1, forged, tree.root, tree.proof_for(leaf))
    with boa.env.prank(world.sites[0]), boa.reverts("trials: CRF not anchored"):
        world.trials.pay_visit(trial_id, her, 1, leaf, keccak(b"a root never anchored"), tree.proof_for(leaf))
    assert world.token.balanceOf(world.sites[0]) == 0


def test_only_a_leaf_of_a_batch_of_records_the_site_anchored_itself_pays(world: World) -> None:
    trial_id, (her, _) = _ready(world)
    leaf = _crf(her, 1)
    theirs = world.anchor_crfs([leaf, keccak(b"another record")], site=1)  # another site's node anchored it
    with boa.reverts("trials: CRF batch anchored by another node"):
        world.pay(trial_id, her, 1, theirs, leaf)
    lone = keccak(b"32 random bytes")  # a one-leaf batch: its root is the leaf, its proof empty
    with boa.env.prank(world.admin):
        world.anchor.anchor(lone, 1, 1)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: CRF batch anchored by another node"):
        world.trials.pay_visit(trial_id, her, 1, lone, lone, [])
    audit = world.anchor_crfs([leaf, keccak(b"an audit head")], kind=AUDIT)
    with boa.reverts("trials: CRF batch is not of records"):
        world.pay(trial_id, her, 1, audit, leaf)
    assert world.token.balanceOf(world.sites[0]) == 0
    world.pay(trial_id, her, 1, world.anchor_crfs([leaf, keccak(b"a third record")]), leaf)
    assert world.token.balanceOf(world.sites[0]) == SITE_FEE


def test_one_crf_leaf_pays_one_visit_only(world: World) -> None:
    trial_id, (her, other) = _ready(world)
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, _crf(other, 1)])
    world.pay(trial_id, her, 1, tree, leaf)
    with boa.reverts("trials: CRF already paid"):
        world.pay(trial_id, her, 2, tree, leaf)
    with boa.reverts("trials: CRF already paid"):
        world.pay(trial_id, other, 1, tree, leaf)
    second = world.open_trial()  # the same leaf offered in another trial
    world.allocate(second, [world.enrol(second, 5)])
    with boa.reverts("trials: CRF already paid"):
        world.pay(second, participant_id(5), 1, tree, leaf)
    assert world.token.balanceOf(world.sites[0]) == SITE_FEE


def test_an_amendment_that_asks_for_reconsent_blocks_her_next_visit_until_she_signs(world: World) -> None:
    trial_id, (her, _) = _ready(world)
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, keccak(b"another record")])
    with boa.env.prank(world.sponsor):
        world.trials.amend(trial_id, keccak(b"protocol v2"), keccak(b"consent v2"), True)
    assert world.trials.may_visit(trial_id, her)  # pending: the version she signed is still the current one
    world.approve(trial_id, 2)
    assert not world.trials.may_visit(trial_id, her)
    with boa.reverts("trials: re-consent needed"):
        world.pay(trial_id, her, 1, tree, leaf)
    with boa.env.prank(world.sites[0]):
        world.trials.reconsent(trial_id, her, 2, keccak(b"her signature of v2"))
    assert world.trials.may_visit(trial_id, her)
    world.pay(trial_id, her, 1, tree, leaf)
    assert world.trials.participant(trial_id, her).visits_paid == 1


def test_only_her_site_is_paid_for_an_allocated_participant_still_taking_part(world: World) -> None:
    trial_id = world.open_trial()
    her = world.enrol(trial_id, 0)
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, keccak(b"another record")])
    with boa.reverts("trials: not allocated"):
        world.pay(trial_id, her, 1, tree, leaf)
    world.allocate(trial_id, [her])
    with boa.reverts("trials: not the participant's site"):
        world.pay(trial_id, her, 1, tree, leaf, site=1)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: not enrolled"):
        world.trials.pay_visit(trial_id, keccak(b"nobody"), 1, leaf, tree.root, tree.proof_for(leaf))
    with boa.env.prank(world.sites[0]):
        world.trials.withdraw(trial_id, her)
    assert not world.trials.may_visit(trial_id, her)
    with boa.reverts("trials: withdrawn"):
        world.pay(trial_id, her, 1, tree, leaf)


def test_the_sponsor_takes_back_what_is_not_owed_only_after_unblinding(world: World) -> None:
    trial_id, (her, other) = _ready(world)
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, keccak(b"another record")])
    world.pay(trial_id, her, 1, tree, leaf)
    with boa.env.prank(world.sponsor), boa.reverts("trials: not unblinded yet"):
        world.trials.return_escrow(trial_id)
    with boa.env.prank(world.sponsor):
        world.trials.reveal(trial_id, world.seed)
    with boa.env.prank(world.board), boa.reverts("trials: not the sponsor"):
        world.trials.return_escrow(trial_id)
    before = world.token.balanceOf(world.sponsor)
    owed = 2 * PER_PARTICIPANT - SITE_FEE - STIPEND
    with boa.env.prank(world.sponsor):
        returned = world.trials.return_escrow(trial_id)
    assert returned == 5 * PER_PARTICIPANT - SITE_FEE - STIPEND - owed
    (event,) = world.events("EscrowReturned")
    assert (event.trial_id, event.amount) == (trial_id, returned)
    assert world.token.balanceOf(world.sponsor) == before + returned
    trial = world.trials.trial(trial_id)
    assert trial.escrow == trial.owed == owed
    assert world.token.balanceOf(world.trials.address) == owed
    with boa.env.prank(world.sponsor), boa.reverts("trials: nothing to return"):
        world.trials.return_escrow(trial_id)
    world.pay(trial_id, her, 2, world.anchor_crfs([_crf(her, 2), _crf(other, 2)]), _crf(her, 2))  # still paid
    with boa.env.prank(world.sites[0]):
        world.trials.withdraw(trial_id, other)
    with boa.env.prank(world.sponsor):
        assert world.trials.return_escrow(trial_id) == PER_PARTICIPANT  # her visits were freed
    assert world.token.balanceOf(world.trials.address) == world.trials.trial(trial_id).owed == SITE_FEE + STIPEND


def test_a_stipend_with_no_payee_is_held_until_her_site_names_one_then_paid_out_exactly(world: World) -> None:
    trial_id = world.open_trial()
    her, other = world.enrol(trial_id, 0, held=True), world.enrol(trial_id, 1)
    world.allocate(trial_id, [her, other])
    leaves = [_crf(her, visit) for visit in (1, 2, 3)]
    tree = world.anchor_crfs(leaves)
    world.pay(trial_id, her, 1, tree, leaves[0])
    world.pay(trial_id, her, 2, tree, leaves[1])
    assert [e.held for e in world.events("VisitPaid")] == [True]  # the last call's
    assert world.trials.held(trial_id, her) == 2 * STIPEND
    assert world.token.balanceOf(world.sites[0]) == 2 * SITE_FEE
    trial = world.trials.trial(trial_id)
    assert world.token.balanceOf(world.trials.address) == trial.escrow + 2 * STIPEND  # held apart from the escrow
    with boa.env.prank(world.sites[1]), boa.reverts("trials: not the participant's site"):
        world.trials.set_payee(trial_id, her, world.payee(0))
    with boa.env.prank(world.sites[0]), boa.reverts("trials: no payee"):
        world.trials.set_payee(trial_id, her, ZERO)
    with boa.env.prank(world.sites[0]):
        world.trials.set_payee(trial_id, her, world.payee(0))
    named, paid = world.events("PayeeNamed"), world.events("HeldPaid")
    assert [(e.trial_id, e.participant) for e in named] == [(trial_id, her)]
    assert not hasattr(named[0], "payee")  # the address she chose is not logged
    assert [(e.trial_id, e.participant, e.amount) for e in paid] == [(trial_id, her, 2 * STIPEND)]
    assert world.token.balanceOf(world.payee(0)) == 2 * STIPEND
    assert world.trials.held(trial_id, her) == 0
    assert world.trials.participant(trial_id, her).payee == world.payee(0)
    world.pay(trial_id, her, 3, tree, leaves[2])  # named: paid at once
    (last,) = world.events("VisitPaid")
    assert not last.held
    assert world.token.balanceOf(world.payee(0)) == 3 * STIPEND
    with boa.env.prank(world.sites[0]):
        world.trials.set_payee(trial_id, her, world.payee(7))  # her site may change it; nothing is held
    assert world.events("HeldPaid") == []
    assert world.trials.participant(trial_id, her).payee == world.payee(7)
    assert world.token.balanceOf(world.trials.address) == world.trials.trial(trial_id).escrow


def test_a_site_the_council_deactivated_is_paid_nothing_and_names_no_payee(world: World) -> None:
    trial_id = world.open_trial()
    her = world.enrol(trial_id, 0, held=True)
    world.allocate(trial_id, [her])
    leaf = _crf(her, 1)
    tree = world.anchor_crfs([leaf, keccak(b"another record")])
    with boa.env.prank(world.admin):
        world.identity.deactivate(world.sites[0])
    with boa.reverts("trials: site not active"):
        world.pay(trial_id, her, 1, tree, leaf)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: site not active"):
        world.trials.set_payee(trial_id, her, world.payee(0))
    assert world.token.balanceOf(world.sites[0]) == 0


@settings(max_examples=30)
@given(steps=st.lists(st.tuples(st.sampled_from(["enrol", "withdraw", "pay", "name"]), st.integers(0, 4)), max_size=24))
def test_the_escrow_always_holds_every_visit_it_still_owes(world: World, steps: list[tuple[str, int]]) -> None:
    with boa.env.anchor():
        trial_id = world.open_trial(target=4, budget=3 * PER_PARTICIPANT)
        leaves = {(n, visit): _crf(participant_id(n), visit) for n in range(5) for visit in range(1, 4)}
        tree = world.anchor_crfs(list(leaves.values()))
        for action, n in steps:
            her = participant_id(n)
            try:
                if action == "enrol":
                    world.enrol(trial_id, n, held=n % 2 == 1)
                    world.allocate(trial_id, [her])
                elif action == "name":
                    with boa.env.prank(world.sites[0]):
                        world.trials.set_payee(trial_id, her, world.payee(n))
                elif action == "withdraw":
                    with boa.env.prank(world.sites[0]):
                        world.trials.withdraw(trial_id, her)
                else:
                    visit = world.trials.participant(trial_id, her).visits_paid + 1
                    world.pay(trial_id, her, visit, tree, leaves[(n, min(visit, VISITS))])
            except BoaError:
                pass  # a refused step changes nothing; the invariant holds all the same
            trial = world.trials.trial(trial_id)
            records = [world.trials.participant(trial_id, participant_id(m)) for m in range(5)]
            still_owed = sum(VISITS - r.visits_paid for r in records if r.site != ZERO and not r.withdrawn)
            assert trial.owed == still_owed * (SITE_FEE + STIPEND)
            held = sum(world.trials.held(trial_id, participant_id(m)) for m in range(5))
            assert world.token.balanceOf(world.trials.address) == trial.escrow + held
            assert trial.escrow >= trial.owed
            assert (
                trial.escrow
                + held
                + world.token.balanceOf(world.sites[0])
                + sum(world.token.balanceOf(world.payee(m)) for m in range(5))
                == trial.budget
            )
