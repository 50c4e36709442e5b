"""Who pays which claim, from the chain: the fact the access policy's payer rule is decided by."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from careledger.chain import Claims, Role
from careledger.claims import CPT, ClaimLine, claim_record_id
from careledger.config import NODE_WALLET
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
    asked: list[bytes] = []
    find = Claims.find_claim
    monkeypatch.setattr(Claims, "find_claim", lambda facade, claim_id: asked.append(claim_id) or find(facade, claim_id))
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    first = len(asked)
    assert payers.paid_by(world.insurer.address) == {world.alice.address}
    assert payers.payer(unsent) is None
    assert len(asked) == first  # the unsent Claim, and the paid one, are not asked of the chain again
    node.claims.submit(world.billing, world.encounter("visit-2"), VISIT)
    asked.clear()
    assert payers.payer(unsent) is None
    assert asked  # a claim was submitted since: whether this one is on chain now is asked again


def test_who_insures_a_member_is_kept_until_the_chain_enrols_her_again(world: World) -> None:
    node, payers = world.node, world.node.claims.payers
    rival = node.wallets.create("rival", Role.INSURER, "pw")
    carol = node.wallets.create("carol", Role.PATIENT, "pw")
    rival_plan = insure(node, rival, [])
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        carol.address, carol.role, carol.encryption_key
    )
    now, day = int(time.time()), 86_400
    world.claims(world.insurer.name).enroll(carol.address, world.plan_id, now - 20 * day, now - 2 * day)
    assert payers.insurer(carol.address) == world.insurer.address
    world.claims(rival.name).enroll(carol.address, rival_plan, now - day, now + 30 * day)
    assert payers.insurer(carol.address) == rival.address
