"""Trials.vy under titanoboa: a trial registered with its escrow, approved by an ethics board, amended, its sites and
its top-ups."""

from __future__ import annotations

import boa
import pytest
from eth_utils import keccak

from tests.contracts.trials import CONSENT, PER_PARTICIPANT, PROTOCOL, SITE_FEE, STIPEND, World, world_fixture

__all__ = ["world_fixture"]

ZERO = "0x0000000000000000000000000000000000000000"


def test_a_researcher_registers_a_trial_and_its_budget_moves_into_escrow(world: World) -> None:
    budget = 4 * PER_PARTICIPANT
    before = world.token.balanceOf(world.sponsor)
    trial_id = world.register(target=60, budget=budget)
    (registered,) = world.events("TrialRegistered")
    assert (registered.trial_id, registered.sponsor, registered.protocol_hash, registered.budget) == (
        trial_id,
        world.sponsor,
        PROTOCOL,
        budget,
    )
    assert [e.site for e in world.events("SiteAdded")] == world.sites
    trial = world.trials.trial(trial_id)
    assert (trial.sponsor, trial.target, trial.visits, trial.site_fee, trial.stipend) == (
        world.sponsor,
        60,
        3,
        SITE_FEE,
        STIPEND,
    )
    assert (trial.budget, trial.escrow, trial.owed, trial.arms) == (budget, budget, 0, 2)
    assert (trial.current_version, trial.latest_version, trial.seed_hash, trial.revealed_at) == (0, 1, bytes(32), 0)
    assert world.trials.version(trial_id, 1) == (PROTOCOL, CONSENT, False, ZERO, 0)
    assert world.trials.ratios(trial_id) == [1, 1]
    assert world.trials.block_multiples(trial_id) == [1, 2]
    assert world.trials.sites(trial_id) == world.sites
    assert world.trials.is_site(trial_id, world.sites[1])
    assert not world.trials.is_site(trial_id, world.stranger)
    assert world.trials.trial_count() == trial_id == 1
    assert world.token.balanceOf(world.trials.address) == budget
    assert world.token.balanceOf(world.sponsor) == before - budget


def test_only_a_researcher_registers_and_only_a_design_that_can_run(world: World) -> None:
    with boa.env.prank(world.board), boa.reverts("trials: not a researcher"):
        world.trials.register_trial(PROTOCOL, CONSENT, 10, [1, 1], [1], 3, 0, 0, 0, [])
    refused = {
        "trials: no protocol": {"protocol_hash": bytes(32)},
        "trials: no consent document": {"consent_hash": bytes(32)},
        "trials: no target": {"target": 0},
        "trials: fewer than two arms": {"ratios": [1]},
        "trials: an arm's ratio is zero": {"ratios": [2, 0, 1]},
        "trials: no block multiple": {"block_multiples": []},
        "trials: a block multiple is zero": {"block_multiples": [1, 0]},
        "trials: visits are 1 to 16": {"visits": 17},
        "trials: site is not an active organisation": {"sites": [world.sponsor]},
        "trials: site listed twice": {"sites": [world.sites[0], world.sites[0]]},
    }
    for reason, terms in refused.items():
        with boa.reverts(reason):
            world.register(**terms)
    with boa.reverts("trials: visits are 1 to 16"):
        world.register(visits=0)
    assert world.trials.trial_count() == 0


def test_the_escrow_is_taken_only_as_far_as_the_sponsor_approved_it(world: World) -> None:
    with boa.env.prank(world.sponsor), boa.reverts():
        world.trials.register_trial(PROTOCOL, CONSENT, 10, [1, 1], [1], 3, SITE_FEE, STIPEND, PER_PARTICIPANT, [])
    assert world.trials.trial_count() == 0


def test_an_ethics_board_that_is_not_the_sponsor_approves_the_pending_version(world: World) -> None:
    trial_id = world.register()
    with boa.env.prank(world.sites[0]), boa.reverts("trials: no valid ethics approval credential"):
        world.trials.approve_version(trial_id, 1)
    with boa.env.prank(world.admin):
        world.identity.attest(world.sponsor, keccak(text="research-ethics-approval"), 2**40, True)
    with boa.env.prank(world.sponsor), boa.reverts("trials: the sponsor cannot approve its own trial"):
        world.trials.approve_version(trial_id, 1)
    with boa.env.prank(world.stranger), boa.reverts("trials: not an active actor"):
        world.trials.approve_version(trial_id, 1)
    with boa.env.prank(world.board), boa.reverts("trials: no such trial"):
        world.trials.approve_version(trial_id + 1, 1)
    with boa.env.prank(world.board), boa.reverts("trials: not the pending version"):
        world.trials.approve_version(trial_id, 2)
    world.approve(trial_id)
    (approved,) = world.events("VersionApproved")
    assert (approved.trial_id, approved.version, approved.board) == (trial_id, 1, world.board)
    version = world.trials.version(trial_id, 1)
    assert version.approved_by == world.board
    assert version.approved_at == boa.env.evm.patch.timestamp
    assert world.trials.trial(trial_id).current_version == 1
    with boa.env.prank(world.board), boa.reverts("trials: not the pending version"):
        world.trials.approve_version(trial_id, 1)


def test_an_amendment_waits_for_approval_and_one_asking_for_reconsent_sets_where_it_starts(world: World) -> None:
    trial_id = world.register()
    amended = keccak(b"protocol v2")
    with boa.env.prank(world.sponsor), boa.reverts("trials: a version is pending approval"):
        world.trials.amend(trial_id, amended, CONSENT, False)
    world.approve(trial_id)
    with boa.env.prank(world.board), boa.reverts("trials: not the sponsor"):
        world.trials.amend(trial_id, amended, CONSENT, False)
    with boa.env.prank(world.sponsor), boa.reverts("trials: no protocol"):
        world.trials.amend(trial_id, bytes(32), CONSENT, False)
    with boa.env.prank(world.sponsor):
        assert world.trials.amend(trial_id, amended, CONSENT, False) == 2
    (event,) = world.events("TrialAmended")
    assert (event.version, event.protocol_hash, event.reconsent) == (2, amended, False)
    assert world.trials.trial(trial_id).current_version == 1  # until the board approves version 2
    world.approve(trial_id, 2)
    assert world.trials.trial(trial_id).reconsent_from == 0  # this amendment asked no one to consent again
    with boa.env.prank(world.sponsor):
        world.trials.amend(trial_id, keccak(b"protocol v3"), keccak(b"consent v3"), True)
    assert world.trials.trial(trial_id).reconsent_from == 0
    world.approve(trial_id, 3)
    trial = world.trials.trial(trial_id)
    assert (trial.current_version, trial.latest_version, trial.reconsent_from) == (3, 3, 3)
    assert world.trials.version(trial_id, 3)[:3] == (keccak(b"protocol v3"), keccak(b"consent v3"), True)


def test_the_sponsor_adds_an_active_organisation_as_a_site_once(world: World) -> None:
    trial_id = world.register(sites=[world.sites[0]])
    with boa.env.prank(world.sites[0]), boa.reverts("trials: not the sponsor"):
        world.trials.add_site(trial_id, world.sites[1])
    with boa.env.prank(world.sponsor), boa.reverts("trials: site is not an active organisation"):
        world.trials.add_site(trial_id, world.stranger)
    with boa.env.prank(world.sponsor), boa.reverts("trials: site listed twice"):
        world.trials.add_site(trial_id, world.sites[0])
    with boa.env.prank(world.sponsor):
        world.trials.add_site(trial_id, world.sites[1])
    (added,) = world.events("SiteAdded")
    assert (added.trial_id, added.site) == (trial_id, world.sites[1])
    assert world.trials.sites(trial_id) == world.sites
    with boa.env.prank(world.sponsor), boa.reverts("trials: no such trial"):
        world.trials.add_site(trial_id + 1, world.sites[1])
    for i in range(30):
        clinic = world.organisation(f"clinic {i}")
        with boa.env.prank(world.sponsor):
            world.trials.add_site(trial_id, clinic)
    assert len(world.trials.sites(trial_id)) == 32
    with boa.env.prank(world.sponsor), boa.reverts("trials: too many sites"):
        world.trials.add_site(trial_id, world.organisation("clinic 31"))


def test_the_sponsor_removes_a_site_which_enrols_no_one_more_but_keeps_its_participants(world: World) -> None:
    trial_id = world.open_trial()
    her = world.enrol(trial_id, 0, site=1)
    with boa.env.prank(world.sites[1]), boa.reverts("trials: not the sponsor"):
        world.trials.remove_site(trial_id, world.sites[1])
    with boa.env.prank(world.sponsor), boa.reverts("trials: not a site of the trial"):
        world.trials.remove_site(trial_id, world.stranger)
    with boa.env.prank(world.sponsor):
        world.trials.remove_site(trial_id, world.sites[1])
    (removed,) = world.events("SiteRemoved")
    assert (removed.trial_id, removed.site) == (trial_id, world.sites[1])
    assert world.trials.sites(trial_id) == [world.sites[0]]
    assert not world.trials.is_site(trial_id, world.sites[1])
    with boa.reverts("trials: not a site of the trial"):
        world.enrol(trial_id, 1, site=1)
    with boa.env.prank(world.sponsor), boa.reverts("trials: not a site of the trial"):
        world.trials.remove_site(trial_id, world.sites[1])
    assert world.trials.participant(trial_id, her).site == world.sites[1]  # still hers: it acts for her
    with boa.env.prank(world.sites[1]):
        world.trials.withdraw(trial_id, her)
    with boa.env.prank(world.sponsor):
        world.trials.add_site(trial_id, world.sites[1])  # named again, it enrols again
    world.enrol(trial_id, 2, site=1)
    assert world.trials.sites(trial_id) == world.sites


def test_anyone_tops_up_the_escrow_with_what_they_approved(world: World) -> None:
    trial_id = world.register(budget=PER_PARTICIPANT)
    with boa.env.prank(world.admin):
        world.token.mint(world.stranger, PER_PARTICIPANT)
    with boa.env.prank(world.stranger):
        world.token.approve(world.trials.address, PER_PARTICIPANT)
        with boa.reverts("trials: nothing to add"):
            world.trials.top_up(trial_id, 0)
        with boa.reverts("trials: no such trial"):
            world.trials.top_up(trial_id + 1, PER_PARTICIPANT)
        world.trials.top_up(trial_id, PER_PARTICIPANT)
    (topped,) = world.events("EscrowToppedUp")
    assert (topped.trial_id, topped.by, topped.amount) == (trial_id, world.stranger, PER_PARTICIPANT)
    trial = world.trials.trial(trial_id)
    assert (trial.budget, trial.escrow) == (2 * PER_PARTICIPANT, 2 * PER_PARTICIPANT)
    assert world.token.balanceOf(world.trials.address) == 2 * PER_PARTICIPANT


@pytest.mark.parametrize("arms", [2, 8])
def test_any_number_of_arms_up_to_eight_registers_with_its_ratios(world: World, arms: int) -> None:
    ratios = list(range(1, arms + 1))
    trial_id = world.register(ratios=ratios, block_multiples=[1, 2, 3, 4])
    assert world.trials.trial(trial_id).arms == arms
    assert world.trials.ratios(trial_id) == ratios
    assert world.trials.block_multiples(trial_id) == [1, 2, 3, 4]
