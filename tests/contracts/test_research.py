"""Research.vy under titanoboa: the study registry, ethics approval, signed opt-in and out, and rewards from escrow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.crypto import PrivateKey, sign_typed_data, typed_data
from tests.contracts.conftest import contract

ORG, PATIENT, RESEARCHER = 1, 3, 8
DAY = 86_400
KEY = PrivateKey.generate().public_key.raw
ETHICS = "research-ethics-approval"
REWARD = 10 * 10**18
LABS, VITALS = 1 << 1, 1 << 2
PARTICIPATION = [
    {"name": "studyId", "type": "uint256"},
    {"name": "patient", "type": "address"},
    {"name": "join", "type": "bool"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass
class World:
    research: Any
    token: Any
    identity: Any
    admin: Any
    sponsor: Any
    board: Any
    hospital: Any
    patients: list[LocalAccount]


def _now() -> int:
    return int(boa.env.evm.patch.timestamp)


def _register(identity: Any, admin: Any, account: Any, role: int) -> Any:
    with boa.env.prank(admin):
        identity.register_actor(account, role, KEY, 1, "", bytes(32))
    return account


def _register_study(world: World, *, reward: int = REWARD, budget: int = 3 * REWARD, days: int = 90) -> int:
    with boa.env.prank(world.sponsor):
        world.token.approve(world.research.address, budget)
        return int(
            world.research.register_study(
                b"\x11" * 32, LABS | VITALS, _now() - 365 * DAY, _now(), _now() + days * DAY, 1_000, reward, budget
            )
        )


def _approve(world: World, study_id: int) -> None:
    with boa.env.prank(world.board):
        world.research.approve(study_id)


def _signed(world: World, patient: LocalAccount, study_id: int, join: bool, *, signer: Any = None) -> tuple[Any, ...]:
    deadline = _now() + 600
    message = {
        "studyId": study_id,
        "patient": patient.address,
        "join": join,
        "nonce": world.research.nonces(patient.address),
        "deadline": deadline,
    }
    data = typed_data(
        domain=("CareLedger Research", "1"),
        chain_id=boa.env.evm.patch.chain_id,
        contract=world.research.address,
        primary_type="Participation",
        fields=PARTICIPATION,
        message=message,
    )
    return study_id, patient.address, join, deadline, sign_typed_data(signer or patient, data)


@pytest.fixture
def world(identity: Any, admin: Any) -> World:
    with boa.env.prank(admin):
        token = contract("CareToken").deploy()
        research = contract("Research").deploy(identity.address, token.address)
        identity.grantRole(identity.ISSUER_ROLE(), admin)
    sponsor = _register(identity, admin, boa.env.generate_address("sponsor"), RESEARCHER)
    board = _register(identity, admin, boa.env.generate_address("ethics board"), ORG)
    hospital = _register(identity, admin, boa.env.generate_address("hospital"), ORG)
    with boa.env.prank(admin):
        identity.attest(board, keccak(text=ETHICS), _now() + 365 * DAY, True)
        token.mint(sponsor, 1_000 * REWARD)
    patients = [Account.create() for _ in range(4)]
    for patient in patients:
        _register(identity, admin, patient.address, PATIENT)
    return World(research, token, identity, admin, sponsor, board, hospital, patients)


def test_a_researcher_registers_a_study_and_its_budget_moves_into_escrow(world: World) -> None:
    with boa.env.prank(world.hospital), boa.reverts("research: not a researcher"):
        world.research.register_study(b"\x11" * 32, LABS, 0, 1, _now() + DAY, 1_000, REWARD, REWARD)
    with boa.env.prank(world.sponsor), boa.reverts("research: the budget pays no reward"):
        world.research.register_study(b"\x11" * 32, LABS, 0, 1, _now() + DAY, 1_000, REWARD, REWARD - 1)
    study_id = _register_study(world)
    study = world.research.study(study_id)
    assert (study.sponsor, study.reward, study.budget, study.escrow, study.approved_at) == (
        world.sponsor,
        REWARD,
        3 * REWARD,
        3 * REWARD,
        0,
    )
    assert world.token.balanceOf(world.research.address) == 3 * REWARD


def test_only_an_ethics_board_that_is_not_the_sponsor_approves_and_nothing_opens_before(world: World) -> None:
    study_id = _register_study(world)
    patient = world.patients[0]
    with boa.env.prank(patient.address), boa.reverts("research: the study is not approved"):
        world.research.join(study_id, patient.address)
    with boa.env.prank(world.hospital), boa.reverts("research: no valid ethics approval credential"):
        world.research.approve(study_id)
    with boa.env.prank(world.admin):
        world.identity.attest(world.sponsor, keccak(text=ETHICS), _now() + DAY, True)
    with boa.env.prank(world.sponsor), boa.reverts("research: a sponsor cannot approve its own study"):
        world.research.approve(study_id)
    with boa.env.prank(world.hospital), boa.reverts("research: the study is not approved"):
        world.research.record_release(study_id, b"\x01" * 32, 1, [])
    _approve(world, study_id)
    assert world.research.study(study_id).approved_by == world.board
    with boa.env.prank(world.board), boa.reverts("research: already approved"):
        world.research.approve(study_id)


def test_a_signed_opt_in_and_out_count_once_and_a_replay_or_forgery_is_refused(world: World) -> None:
    study_id = _register_study(world)
    _approve(world, study_id)
    patient, other = world.patients[0], world.patients[1]
    joined = _signed(world, patient, study_id, True)
    world.research.participate_by_signature(*joined)
    assert world.research.is_participant(study_id, patient.address)
    with boa.reverts("research: not the patient or her manager"):  # the nonce moved on: it recovers someone else
        world.research.participate_by_signature(*joined)
    forged = _signed(world, patient, study_id, False, signer=other)
    with boa.reverts("research: not the patient or her manager"):
        world.research.participate_by_signature(*forged)
    late = _signed(world, patient, study_id, False)
    boa.env.time_travel(seconds=601)
    with boa.reverts("research: signature past its deadline"):
        world.research.participate_by_signature(*late)
    world.research.participate_by_signature(*_signed(world, patient, study_id, False))
    assert not world.research.is_participant(study_id, patient.address)
    assert world.research.study(study_id).participants == 0
    with boa.env.prank(world.hospital), boa.reverts("research: not the patient or her manager"):
        world.research.join(study_id, patient.address)


def test_a_node_asks_which_of_its_patients_take_part_in_one_call(world: World) -> None:
    study_id = _register_study(world)
    _approve(world, study_id)
    first, second, outsider, leaver = (p.address for p in world.patients)
    for patient in (first, second, leaver):
        with boa.env.prank(patient):
            world.research.join(study_id, patient)
    with boa.env.prank(leaver):
        world.research.leave(study_id, leaver)
    assert world.research.participants_among(study_id, [outsider, second, leaver, first]) == [second, first]
    assert world.research.participants_among(study_id + 1, [first]) == []


def test_a_release_pays_each_participant_her_reward_once_and_never_a_non_participant(world: World) -> None:
    study_id = _register_study(world)
    _approve(world, study_id)
    first, second, outsider, leaver = world.patients
    for patient in (first, second, leaver):
        with boa.env.prank(patient.address):
            world.research.join(study_id, patient.address)
    with boa.env.prank(leaver.address):
        world.research.leave(study_id, leaver.address)
    root = b"\x42" * 32
    for stranger in (outsider, leaver):
        with boa.env.prank(world.hospital), boa.reverts("research: not a participant"):
            world.research.record_release(study_id, root, 10, [first.address, stranger.address])
    with boa.env.prank(world.hospital):
        world.research.record_release(study_id, root, 10, [first.address])
        world.research.record_release(study_id, root, 10, [first.address, second.address])
    assert world.token.balanceOf(first.address) == REWARD
    assert world.token.balanceOf(second.address) == REWARD
    assert world.research.study(study_id).escrow == REWARD
    release = world.research.release_of(root)
    assert (release.study_id, release.custodian, release.records, release.patients) == (study_id, world.hospital, 10, 3)
    with boa.env.prank(world.board), boa.reverts("research: root recorded for another release"):
        world.research.record_release(study_id, root, 10, [first.address])


def test_a_join_the_escrow_cannot_pay_is_refused_directly_or_by_signature(world: World) -> None:
    study_id = _register_study(world, budget=2 * REWARD + REWARD // 2)  # two rewards and a half: room for two
    _approve(world, study_id)
    first, second, third, _ = world.patients
    for patient in (first, second):
        with boa.env.prank(patient.address):
            world.research.join(study_id, patient.address)
    with boa.env.prank(third.address), boa.reverts("research: escrow cannot pay another participant"):
        world.research.join(study_id, third.address)
    signed = _signed(world, third, study_id, True)
    with boa.reverts("research: escrow cannot pay another participant"):
        world.research.participate_by_signature(*signed)
    assert (world.research.study(study_id).participants, world.research.study(study_id).unpaid) == (2, 2)
    assert world.research.nonces(third.address) == 0  # the refused signature is not spent


def test_leaving_unpaid_frees_a_place_and_a_paid_participant_rejoins_without_one(world: World) -> None:
    study_id = _register_study(world, budget=2 * REWARD)
    _approve(world, study_id)
    first, second, third, _ = (p.address for p in world.patients)
    for patient in (first, second):
        with boa.env.prank(patient):
            world.research.join(study_id, patient)
    with boa.env.prank(world.hospital):
        world.research.record_release(study_id, b"\x43" * 32, 1, [first])
    with boa.env.prank(second):
        world.research.leave(study_id, second)
    with boa.env.prank(third):
        world.research.join(study_id, third)  # second's place
    with boa.env.prank(second), boa.reverts("research: escrow cannot pay another participant"):
        world.research.join(study_id, second)
    with boa.env.prank(first):
        world.research.leave(study_id, first)
        world.research.join(study_id, first)  # paid already: she needs no place
    study = world.research.study(study_id)
    assert (study.escrow, study.participants, study.unpaid) == (REWARD, 2, 1)


def test_anyone_tops_up_a_running_study_and_one_more_participant_joins(world: World) -> None:
    study_id = _register_study(world, budget=REWARD, days=10)
    _approve(world, study_id)
    first, second = (p.address for p in world.patients[:2])
    with boa.env.prank(first):
        world.research.join(study_id, first)
    funder = boa.env.generate_address("a patients' charity")
    with boa.env.prank(world.admin):
        world.token.mint(funder, REWARD)
    with boa.env.prank(funder), boa.reverts("erc20: insufficient allowance"):
        world.research.top_up(study_id, REWARD)
    with boa.env.prank(funder):
        world.token.approve(world.research.address, REWARD)
        with boa.reverts("research: nothing to add"):
            world.research.top_up(study_id, 0)
        with boa.reverts("research: no such study"):
            world.research.top_up(study_id + 1, REWARD)
        world.research.top_up(study_id, REWARD)
    logged = world.research.get_logs()[0]  # logged before the token moves (its Approval, Transfer)
    assert (logged.study_id, logged.by, logged.amount) == (study_id, funder, REWARD)
    study = world.research.study(study_id)
    assert (study.budget, study.escrow, world.token.balanceOf(funder)) == (2 * REWARD, 2 * REWARD, 0)
    assert world.token.balanceOf(world.research.address) == 2 * REWARD
    with boa.env.prank(second):
        world.research.join(study_id, second)
    boa.env.time_travel(seconds=11 * DAY)
    with boa.env.prank(world.sponsor):
        world.token.approve(world.research.address, REWARD)
        with boa.reverts("research: the study has ended"):
            world.research.top_up(study_id, REWARD)


def test_a_custodial_patients_reward_is_held_until_she_claims_her_identity(world: World) -> None:
    study_id = _register_study(world)
    _approve(world, study_id)
    custodial = boa.env.generate_address("walk-in")
    with boa.env.prank(world.admin):
        world.identity.register_custodial(custodial, KEY, 1, bytes(32))
        world.research.join(study_id, custodial)  # the custodian acts for her while it holds her key
    with boa.env.prank(world.hospital):
        world.research.record_release(study_id, b"\x44" * 32, 1, [custodial])
    assert world.token.balanceOf(custodial) == 0
    assert world.research.held(custodial) == REWARD
    with boa.reverts("research: the identity is not claimed"):
        world.research.collect(custodial)
    wallet = boa.env.generate_address("her wallet")
    with boa.env.prank(world.admin):
        world.identity.claim_custodial(custodial, wallet, KEY, 1)
    world.research.collect(custodial)
    assert world.token.balanceOf(wallet) == REWARD
    assert world.research.held(custodial) == 0


def test_the_sponsor_takes_back_the_rest_only_after_the_study_ends(world: World) -> None:
    study_id = _register_study(world, days=10)
    _approve(world, study_id)
    before = world.token.balanceOf(world.sponsor)
    with boa.env.prank(world.sponsor), boa.reverts("research: the study has not ended"):
        world.research.return_escrow(study_id)
    boa.env.time_travel(seconds=11 * DAY)
    with boa.env.prank(world.patients[0].address), boa.reverts("research: the study has ended"):
        world.research.join(study_id, world.patients[0].address)
    with boa.env.prank(world.sponsor):
        world.research.return_escrow(study_id)
    assert world.token.balanceOf(world.sponsor) == before + 3 * REWARD
    assert world.research.study(study_id).escrow == 0


_steps = st.lists(
    st.tuples(st.sampled_from(["join", "leave", "release", "top_up"]), st.sets(st.integers(0, 3), min_size=1)),
    min_size=1,
    max_size=12,
)


def _joined_or_refused(world: World, study_id: int, patient: str) -> None:
    """Join `patient`, which the escrow must allow exactly when it holds one more unpaid participant's reward."""
    study = world.research.study(study_id)
    room = study.escrow // study.reward > study.unpaid or world.research.participation(study_id, patient).rewarded
    with boa.env.prank(patient):
        if room:
            world.research.join(study_id, patient)
        else:
            with boa.reverts("research: escrow cannot pay another participant"):
                world.research.join(study_id, patient)


@given(budget_rewards=st.integers(1, 5), reward=st.integers(1, 10**6), steps=_steps)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_escrow_and_payouts_always_add_up_and_a_release_always_pays(
    world: World, budget_rewards: int, reward: int, steps: list[tuple[str, set[int]]]
) -> None:
    deposited = budget_rewards * reward
    with boa.env.anchor():
        study_id = _register_study(world, reward=reward, budget=deposited)
        _approve(world, study_id)
        roots = iter(range(1, 100))
        for action, chosen in steps:
            patients = [world.patients[i].address for i in sorted(chosen)]
            if action == "top_up":
                with boa.env.prank(world.sponsor):
                    world.token.approve(world.research.address, len(patients) * reward)
                    world.research.top_up(study_id, len(patients) * reward)
                deposited += len(patients) * reward
            elif action == "release":
                named = [p for p in patients if world.research.is_participant(study_id, p)]
                with boa.env.prank(world.hospital):  # never short: every participant's reward is in escrow
                    world.research.record_release(study_id, next(roots).to_bytes(32, "big"), 1, named)
            for patient in patients if action in ("join", "leave") else []:
                member = world.research.is_participant(study_id, patient)
                if action == "join" and not member:
                    _joined_or_refused(world, study_id, patient)
                elif action == "leave" and member:
                    with boa.env.prank(patient):
                        world.research.leave(study_id, patient)
            study = world.research.study(study_id)
            paid = sum(world.token.balanceOf(p.address) for p in world.patients)
            unpaid = [
                p
                for p in world.patients
                if world.research.is_participant(study_id, p.address)
                and not world.research.participation(study_id, p.address).rewarded
            ]
            assert study.escrow + paid == study.budget == deposited
            assert world.token.balanceOf(world.research.address) == study.escrow
            assert study.unpaid == len(unpaid)
            assert study.escrow >= study.unpaid * reward
            assert all(world.token.balanceOf(p.address) in (0, reward) for p in world.patients)
            assert all(
                world.research.participation(study_id, p.address).rewarded == (world.token.balanceOf(p.address) > 0)
                for p in world.patients
            )
