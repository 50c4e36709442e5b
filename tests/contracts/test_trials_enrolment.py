"""Trials.vy under titanoboa: the seed committed before enrolment, sites enrolling under the current consent version
within the target and the escrow, re-consent and withdrawal, allocations as commitments, and the seed's reveal."""

from __future__ import annotations

import boa
from eth_utils import keccak

from tests.contracts.trials import (
    PER_PARTICIPANT,
    SITE_FEE,
    STIPEND,
    ZERO,
    World,
    commitment,
    participant_id,
    world_fixture,
)

__all__ = ["world_fixture"]


def test_the_seed_is_committed_once_by_the_sponsor(world: World) -> None:
    trial_id = world.register()
    with boa.env.prank(world.board), boa.reverts("trials: not the sponsor"):
        world.trials.commit_seed(trial_id, keccak(world.seed))
    with boa.env.prank(world.sponsor), boa.reverts("trials: no seed hash"):
        world.trials.commit_seed(trial_id, bytes(32))
    with boa.env.prank(world.sponsor), boa.reverts("trials: no such trial"):
        world.trials.commit_seed(trial_id + 1, keccak(world.seed))
    world.commit_seed(trial_id)
    (committed,) = world.events("SeedCommitted")
    assert (committed.trial_id, committed.seed_hash) == (trial_id, keccak(world.seed))
    assert world.trials.trial(trial_id).seed_hash == keccak(world.seed)
    with boa.env.prank(world.sponsor), boa.reverts("trials: seed already committed"):
        world.trials.commit_seed(trial_id, keccak(b"another seed"))


def test_a_site_enrols_a_participant_in_order_and_the_escrow_holds_her_visits(world: World) -> None:
    trial_id = world.open_trial()
    first = world.enrol(trial_id, 1, site=0, stratum=3)
    (enrolled,) = world.events("Enrolled")
    assert (enrolled.trial_id, enrolled.participant, enrolled.site) == (trial_id, first, world.sites[0])
    assert (enrolled.index, enrolled.stratum, enrolled.version) == (0, 3, 1)
    second = world.enrol(trial_id, 2, site=1, stratum=1)
    assert world.events("Enrolled")[0].index == 1
    record = world.trials.participant(trial_id, second)
    assert (record.site, record.index, record.stratum, record.consented_version, record.payee) == (
        world.sites[1],
        1,
        1,
        1,
        world.payee(2),
    )
    assert (record.allocation, record.withdrawn, record.visits_paid) == (bytes(32), False, 0)
    assert (record.enrolled_at, record.consent_digest) == (boa.env.evm.patch.timestamp, keccak(b"signature 2"))
    trial = world.trials.trial(trial_id)
    assert (trial.enrolled, trial.owed, trial.escrow) == (2, 2 * PER_PARTICIPANT, 5 * PER_PARTICIPANT)
    assert not world.trials.may_visit(trial_id, first)  # not allocated yet
    assert world.trials.participant(trial_id, participant_id(99)).site == "0x" + "00" * 20


def test_enrolment_is_refused_before_the_seed_is_committed(world: World) -> None:
    trial_id = world.register()
    with boa.reverts("trials: not approved"):
        world.enrol(trial_id, 1)
    world.approve(trial_id)
    with boa.reverts("trials: seed not committed"):
        world.enrol(trial_id, 1)
    with boa.env.prank(world.sponsor), boa.reverts("trials: seed not committed"):
        world.trials.reveal(trial_id, world.seed)


def test_a_consent_to_a_version_that_is_not_current_is_refused(world: World) -> None:
    trial_id = world.open_trial()
    with boa.env.prank(world.sponsor):
        world.trials.amend(trial_id, keccak(b"protocol v2"), keccak(b"consent v2"), True)
    with boa.reverts("trials: not the current version"):
        world.enrol(trial_id, 1, version=2)  # pending, not approved
    world.approve(trial_id, 2)
    with boa.reverts("trials: not the current version"):
        world.enrol(trial_id, 1, version=1)
    world.enrol(trial_id, 1, version=2)
    assert world.trials.participant(trial_id, participant_id(1)).consented_version == 2


def test_only_a_site_enrols_a_new_participant_with_her_consent_and_payee(world: World) -> None:
    trial_id = world.open_trial(sites=[world.sites[0]])
    digest, payee = keccak(b"signature"), world.payee(1)
    with boa.env.prank(world.sites[1]), boa.reverts("trials: not a site of the trial"):
        world.trials.enrol(trial_id, participant_id(1), 0, 1, digest, payee)
    site = world.sites[0]
    refused = {
        "trials: no participant": (bytes(32), digest, payee),
        "trials: no consent": (participant_id(1), bytes(32), payee),
    }
    for reason, (participant, signed, to) in refused.items():
        with boa.env.prank(site), boa.reverts(reason):
            world.trials.enrol(trial_id, participant, 0, 1, signed, to)
    world.enrol(trial_id, 1)
    with boa.reverts("trials: already enrolled"):
        world.enrol(trial_id, 1)
    held = world.enrol(trial_id, 2, held=True)  # no payee yet: her stipends will be held
    assert world.trials.participant(trial_id, held).payee == ZERO


def test_a_site_the_council_deactivated_enrols_and_reconsents_no_one_but_may_withdraw(world: World) -> None:
    trial_id = world.open_trial()
    her = world.enrol(trial_id, 0)
    with boa.env.prank(world.sponsor):
        world.trials.amend(trial_id, keccak(b"protocol v2"), keccak(b"consent v2"), True)
    world.approve(trial_id, 2)
    with boa.env.prank(world.admin):
        world.identity.deactivate(world.sites[0])
    with boa.reverts("trials: site not active"):
        world.enrol(trial_id, 1, version=2)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: site not active"):
        world.trials.reconsent(trial_id, her, 2, keccak(b"her signature of v2"))
    with boa.env.prank(world.sites[0]):
        world.trials.withdraw(trial_id, her)  # frees the escrow, pays no one
    assert world.trials.participant(trial_id, her).withdrawn
    world.enrol(trial_id, 1, site=1, version=2)  # the other site goes on


def test_enrolment_stops_at_the_target(world: World) -> None:
    trial_id = world.open_trial(target=2)
    world.enrol(trial_id, 1)
    world.enrol(trial_id, 2, site=1)
    with boa.reverts("trials: target reached"):
        world.enrol(trial_id, 3)


def test_enrolment_stops_when_the_escrow_cannot_hold_her_visits_and_a_top_up_reopens_it(world: World) -> None:
    trial_id = world.open_trial(budget=2 * PER_PARTICIPANT - 1)
    world.enrol(trial_id, 1)
    with boa.reverts("trials: escrow short"):
        world.enrol(trial_id, 2)
    with boa.env.prank(world.sponsor):
        world.token.approve(world.trials.address, 1)
        world.trials.top_up(trial_id, 1)
    world.enrol(trial_id, 2)
    trial = world.trials.trial(trial_id)
    assert trial.owed == trial.escrow == 2 * PER_PARTICIPANT


def test_a_withdrawal_frees_what_her_remaining_visits_were_owed(world: World) -> None:
    trial_id = world.open_trial(budget=PER_PARTICIPANT)
    first = world.enrol(trial_id, 1)
    with boa.reverts("trials: escrow short"):
        world.enrol(trial_id, 2)
    with boa.env.prank(world.sites[1]), boa.reverts("trials: not the participant's site"):
        world.trials.withdraw(trial_id, first)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: not enrolled"):
        world.trials.withdraw(trial_id, participant_id(7))
    with boa.env.prank(world.sites[0]):
        world.trials.withdraw(trial_id, first)
    (withdrawn,) = world.events("Withdrawn")
    assert (withdrawn.trial_id, withdrawn.participant) == (trial_id, first)
    trial = world.trials.trial(trial_id)
    assert (trial.enrolled, trial.withdrawn, trial.owed) == (1, 1, 0)
    assert world.trials.participant(trial_id, first).withdrawn
    with boa.env.prank(world.sites[0]), boa.reverts("trials: already withdrawn"):
        world.trials.withdraw(trial_id, first)
    second = world.enrol(trial_id, 2)  # the place her visits held is free again
    assert world.trials.participant(trial_id, second).index == 1


def test_a_reconsent_is_to_the_current_version_at_her_site(world: World) -> None:
    trial_id = world.open_trial()
    participant = world.enrol(trial_id, 1)
    digest = keccak(b"signature v2")
    with boa.env.prank(world.sites[0]), boa.reverts("trials: already consented to this version"):
        world.trials.reconsent(trial_id, participant, 1, digest)
    with boa.env.prank(world.sponsor):
        world.trials.amend(trial_id, keccak(b"protocol v2"), keccak(b"consent v2"), True)
    world.approve(trial_id, 2)
    with boa.env.prank(world.sites[1]), boa.reverts("trials: not the participant's site"):
        world.trials.reconsent(trial_id, participant, 2, digest)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: not the current version"):
        world.trials.reconsent(trial_id, participant, 3, digest)
    with boa.env.prank(world.sites[0]), boa.reverts("trials: no consent"):
        world.trials.reconsent(trial_id, participant, 2, bytes(32))
    with boa.env.prank(world.sites[0]):
        world.trials.reconsent(trial_id, participant, 2, digest)
    (event,) = world.events("Reconsented")
    assert (event.trial_id, event.participant, event.version) == (trial_id, participant, 2)
    record = world.trials.participant(trial_id, participant)
    assert (record.consented_version, record.consent_digest) == (2, digest)
    with boa.env.prank(world.sites[0]):
        world.trials.withdraw(trial_id, participant)
        with boa.reverts("trials: withdrawn"):
            world.trials.reconsent(trial_id, participant, 2, digest)


def test_the_sponsor_allocates_each_enrolled_participant_once(world: World) -> None:
    trial_id = world.open_trial()
    people = [world.enrol(trial_id, n) for n in range(3)]
    arms = [commitment(world.seed, trial_id, p, 0) for p in people]
    with boa.env.prank(world.sites[0]), boa.reverts("trials: not the sponsor"):
        world.trials.allocate(trial_id, people, arms)
    with boa.env.prank(world.sponsor), boa.reverts("trials: participants and commitments differ in number"):
        world.trials.allocate(trial_id, people, arms[:2])
    with boa.env.prank(world.sponsor), boa.reverts("trials: not enrolled"):
        world.trials.allocate(trial_id, [participant_id(9)], arms[:1])
    with boa.env.prank(world.sponsor), boa.reverts("trials: no commitment"):
        world.trials.allocate(trial_id, people[:1], [bytes(32)])
    world.allocate(trial_id, people[:2])
    assert [(e.participant, e.commitment) for e in world.events("Allocated")] == [
        (people[0], commitment(world.seed, trial_id, people[0], 0)),
        (people[1], commitment(world.seed, trial_id, people[1], 1)),
    ]
    assert world.trials.participant(trial_id, people[1]).allocation == commitment(world.seed, trial_id, people[1], 1)
    assert world.trials.trial(trial_id).allocated == 2
    assert world.trials.may_visit(trial_id, people[0])
    assert not world.trials.may_visit(trial_id, people[2])
    with boa.reverts("trials: already allocated"):
        world.allocate(trial_id, people[1:])
    assert world.trials.trial(trial_id).allocated == 2


def test_the_seed_is_revealed_once_every_participant_is_allocated_and_it_matches(world: World) -> None:
    trial_id = world.open_trial()
    people = [world.enrol(trial_id, n) for n in range(3)]
    with boa.env.prank(world.sites[0]):
        world.trials.withdraw(trial_id, people[2])  # withdrawn, yet her place in the blocks is allocated
    world.allocate(trial_id, people[:2])
    with boa.env.prank(world.board), boa.reverts("trials: not the sponsor"):
        world.trials.reveal(trial_id, world.seed)
    with boa.env.prank(world.sponsor), boa.reverts("trials: seed does not match"):
        world.trials.reveal(trial_id, keccak(b"a guess"))
    with boa.env.prank(world.sponsor), boa.reverts("trials: not every participant is allocated"):
        world.trials.reveal(trial_id, world.seed)
    assert world.trials.trial(trial_id).seed == bytes(32)  # still blinded
    world.allocate(trial_id, people[2:])
    with boa.env.prank(world.sponsor):
        world.trials.reveal(trial_id, world.seed)
    (revealed,) = world.events("SeedRevealed")
    assert (revealed.trial_id, revealed.seed) == (trial_id, world.seed)
    trial = world.trials.trial(trial_id)
    assert (trial.seed, trial.revealed_at) == (world.seed, boa.env.evm.patch.timestamp)
    with boa.env.prank(world.sponsor), boa.reverts("trials: already revealed"):
        world.trials.reveal(trial_id, world.seed)
    with boa.reverts("trials: enrolment has ended"):
        world.enrol(trial_id, 7)
    with boa.reverts("trials: already revealed"):
        world.allocate(trial_id, people[:1])


def test_gas_of_an_enrolment_and_of_allocating_a_batch_of_sixty(world: World) -> None:
    trial_id = world.open_trial(target=60, budget=60 * PER_PARTICIPANT)
    world.enrol(trial_id, 0)
    enrol_gas = world.trials._computation.get_gas_used()
    people = [participant_id(0)] + [world.enrol(trial_id, n, site=n % 2) for n in range(1, 60)]
    world.allocate(trial_id, people)
    allocate_gas = world.trials._computation.get_gas_used()
    print(f"\nTrials.enrol: {enrol_gas:,} gas; allocate: {allocate_gas:,} gas for 60, {allocate_gas // 60:,} each")
    assert enrol_gas < 150_000
    assert allocate_gas // 60 < 35_000
    assert world.trials.trial(trial_id).allocated == 60
    assert world.trials.trial(trial_id).owed == 60 * 3 * (SITE_FEE + STIPEND)
