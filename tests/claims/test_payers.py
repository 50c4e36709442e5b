"""Who pays which claim, from the chain: the fact the access policy's payer rule is decided by."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from careledger.access import Accessor
from careledger.chain import Chain, Claims, Role
from careledger.claims import CPT, ClaimLine, ServiceClass, claim_record_id
from careledger.config import NODE_WALLET
from careledger.identity import Wallet
from careledger.testdata import insure
from tests.claims.conftest import CARE, World

VISIT = [ClaimLine(CPT, "99213", 200 * CARE)]


def test_a_claim_s_records_are_paid_by_the_insurer_of_its_plan_on_chain(world: World) -> None:
    node, payers = world.node, world.node.claims.payers
    outcome = node.claims.submit(world.billing, world.encounter("visit-1"), VISIT)
    records = node._records
    for record_id in (outcome.record_id, outcome.response_id, outcome.eob_id):
        assert payers.payer(records.get(record_id or "")) == world.insurer.address, record_id
    assert payers.payer(records.get("visit-1")) is None  # an Encounter is no claim's record
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    assert payers.paid_by(node.address) == frozenset()
    assert payers.insurer(world.alice.address) == world.insurer.address
    assert payers.insurer(node.address) is None  # not enrolled


def test_a_claim_another_wallet_submitted_is_found_by_the_provider_it_names(world: World) -> None:
    node = world.node
    clinic = node.wallets.create("clinic", Role.ORG, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        clinic.address, clinic.role, clinic.encryption_key
    )
    world.claims(world.insurer.name).set_network(world.plan_id, clinic.address, True)
    outcome = node.claims.submit(world.billing, world.encounter("visit-2"), VISIT, as_wallet="clinic")
    assert outcome.state.provider == clinic.address
    reads = len(node.audit.entries(patient=world.alice.address))
    assert node.claims.payers.payer(node._records.get(outcome.eob_id or "")) == world.insurer.address
    assert len(node.audit.entries(patient=world.alice.address)) == reads  # her Claim was not opened to tell


def test_a_record_that_only_names_a_claim_has_no_payer(world: World) -> None:
    """Neither a Claim never submitted, nor a record of another patient than its Claim's."""
    node, payers = world.node, world.node.claims.payers
    outcome = node.claims.submit(world.billing, world.encounter("visit-1"), VISIT)
    bob = node.wallets.create("bob", Role.PATIENT, "pw")
    response = node._records.get(outcome.response_id or "")
    assert payers.payer(replace(response, patient_address=bob.address)) is None
    claim = node._records.read(outcome.record_id or "")
    unsent = node._records.write({**claim, "id": claim_record_id("visit-never"), "total": {"value": 999}})
    assert payers.payer(unsent) is None


def test_a_claim_not_on_chain_is_asked_of_the_chain_again_only_once_a_claim_was_submitted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, payers = world.node, world.node.claims.payers
    outcome = node.claims.submit(world.billing, world.encounter("visit-1"), VISIT)
    claim = node._records.read(outcome.record_id or "")
    unsent = node._records.write({**claim, "id": claim_record_id("visit-never"), "total": {"value": 999}})
    payers.follow()  # the node's background loop: its first look
    asked: list[bytes] = []
    find = Claims.find_claim
    monkeypatch.setattr(Claims, "find_claim", lambda facade, claim_id: asked.append(claim_id) or find(facade, claim_id))
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    first = len(asked)
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    assert payers.payer(unsent) is None
    assert len(asked) == first  # the unsent Claim, and the paid one, are not asked of the chain again
    world.claims().submit_claim(world.alice.address, ServiceClass.OFFICE_VISIT, CARE, int(time.time()), b"\x07" * 32, 0)
    asked.clear()
    assert payers.payer(unsent) is None
    assert asked == []  # a decision never looks at the chain's events: the background loop does
    payers.follow()
    assert payers.payer(unsent) is None
    assert asked  # a claim was submitted since: whether this one is on chain now is asked again


def test_who_insures_a_member_is_kept_until_the_chain_enrols_her_again(world: World) -> None:
    payers = world.node.claims.payers
    rival, carol, enrol_with_rival = _carol_insured_then_a_rival(world)
    assert payers.insurer(carol.address) == world.insurer.address
    enrol_with_rival()
    assert payers.insurer(carol.address) == world.insurer.address  # until the background loop follows the chain
    payers.follow()
    assert payers.insurer(carol.address) == rival.address


def test_a_payer_check_asks_the_chain_nothing_once_it_knows(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decisions run on the API's event loop: once a claim's payer, an insurer's patients and a member's insurer
    are known, asking again costs no chain call, not even for the block number (the loop follows the events)."""
    node, payers = world.node, world.node.claims.payers
    outcome = node.claims.submit(world.billing, world.encounter("visit-1"), VISIT)
    response = node._records.get(outcome.response_id or "")
    payers.follow()
    assert payers.payer(response) == world.insurer.address
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    assert payers.insurer(world.alice.address) == world.insurer.address
    calls: list[str] = []
    monkeypatch.setattr(Chain, "block_number", lambda chain: calls.append("block_number") or 0)
    monkeypatch.setattr(Claims, "_call", lambda facade, function, *args: calls.append(function))
    for _ in range(3):
        assert payers.payer(response) == world.insurer.address
        assert payers.paid_by(world.insurer.address) == {world.alice.address}
        assert payers.insurer(world.alice.address) == world.insurer.address
    assert calls == []


def test_a_deleted_claim_s_patient_is_no_longer_its_insurer_s_once_followed(world: World) -> None:
    node, payers = world.node, world.node.claims.payers
    outcome = node.claims.submit(world.billing, world.encounter("visit-1"), VISIT)
    payers.follow()
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    node.access.for_caller(Accessor(node.address)).delete(outcome.record_id or "")
    payers.follow()
    assert payers.paid_by(world.insurer.address) == frozenset()


def test_threads_asking_while_the_loop_follows_the_chain_see_whole_answers(world: World) -> None:
    """Decisions ask from the event loop and worker threads while the background loop forgets what a submission
    made stale: no asker meets a dictionary being rebuilt, and none keeps an answer made stale under it."""
    node, payers = world.node, world.node.claims.payers
    claim = node._records.read(node.claims.submit(world.billing, world.encounter("visit-1"), VISIT).record_id or "")
    unsent = [
        node._records.write({**claim, "id": claim_record_id(f"visit-never-{i}"), "total": {"value": i + 1}})
        for i in range(6)
    ]
    payers.follow()
    # A busy node remembers the payers of many Claim versions: forgetting the unsent ones takes a while.
    payers._payers.update({(f"claim-{i}", 1): world.insurer.address for i in range(200_000)})
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        try:
            while not done.is_set():
                for record in unsent:
                    assert payers.payer(record) is None
                assert payers.paid_by(world.insurer.address) == {world.alice.address}
                payers.insurer(world.alice.address)
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change places mid-statement, as a busy server's do
    askers = [threading.Thread(target=ask) for _ in range(4)]
    try:
        for asker in askers:
            asker.start()
        for i in range(6):
            world.claims().submit_claim(
                world.alice.address, ServiceClass.OFFICE_VISIT, CARE, int(time.time()), bytes([i + 1]) * 32, 0
            )
            payers.follow()
    finally:
        done.set()
        for asker in askers:
            asker.join()
        sys.setswitchinterval(switch)
    assert errors == []
    submitted, commitment = unsent[0], node._records.commitment_of(unsent[0])
    world.claims().submit_claim(world.alice.address, ServiceClass.OFFICE_VISIT, CARE, int(time.time()), commitment, 0)
    payers.follow()
    assert payers.payer(submitted) == world.insurer.address


def test_an_insurer_asked_while_the_loop_forgets_her_is_not_kept(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request thread asks who insures carol; before its answer is kept, she is enrolled again and the loop
    forgets her. The answer it had is the old one: it is not kept, so the next ask gets the new insurer."""
    node, payers = world.node, world.node.claims.payers
    rival, carol, enrol_with_rival = _carol_insured_then_a_rival(world)
    asked, release = threading.Event(), threading.Event()
    plan_of = node.plans.plan_of

    def paused(member: str) -> tuple[int, str | None]:
        answer = plan_of(member)
        if not asked.is_set():
            asked.set()
            release.wait(30)
        return answer

    monkeypatch.setattr(node.plans, "plan_of", paused)
    answers: list[str | None] = []
    request = threading.Thread(target=lambda: answers.append(payers.insurer(carol.address)))
    request.start()
    assert asked.wait(30)
    enrol_with_rival()
    payers.follow()
    release.set()
    request.join()
    assert answers == [world.insurer.address]  # what the chain said when it asked
    assert payers.insurer(carol.address) == rival.address


def _carol_insured_then_a_rival(world: World) -> tuple[Wallet, Wallet, Callable[[], None]]:
    """A rival insurer with a plan, carol once a member of the world's plan (it ended two days ago), followed by
    the payers, and how she is enrolled in the rival's plan from yesterday on."""
    node = world.node
    rival = node.wallets.create("rival", Role.INSURER, "pw")
    carol = node.wallets.create("carol", Role.PATIENT, "pw")
    rival_plan = insure(node, rival, [])
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        carol.address, carol.role, carol.encryption_key
    )
    now, day = int(time.time()), 86_400
    world.claims(world.insurer.name).enroll(carol.address, world.plan_id, now - 20 * day, now - 2 * day)
    node.claims.payers.follow()
    return rival, carol, lambda: world.claims(rival.name).enroll(carol.address, rival_plan, now - day, now + 30 * day)
