"""Coverages: a page of members' Coverage views, and its total, from the door and the chain."""

from __future__ import annotations

from careledger.access import Accessor
from careledger.chain import Role
from careledger.config import NODE_WALLET
from careledger.testdata import synthetic_patients
from tests.claims.conftest import World


def test_a_member_the_chain_no_longer_has_is_left_out_of_the_total_as_of_the_page(world: World) -> None:
    """The door counts the members it may show by who insures them (kept until the loop follows the chain);
    the page is built from the chain now. One whose enrolment the chain no longer has (here: the chain went
    back to a block before it) is in neither, so a search's total says how many entries it has."""
    node = world.node
    carol = node.wallets.create("carol", Role.PATIENT, "pw")
    node.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        carol.address, carol.role, carol.encryption_key
    )
    node._records.write(synthetic_patients(1, seed=13)[0].patient, patient_address=carol.address)
    tester = node.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    before = tester.take_snapshot()
    node.plans.enroll(world.insurer.name, carol.address, world.plan_id)
    staff = node.access.for_caller(Accessor(node.address))
    found, total = node.claims.coverage.search(staff, None)
    assert (len(found), total) == (2, 2)
    tester.revert_to_snapshot(before)
    found, total = node.claims.coverage.search(staff, None)
    assert [c["beneficiary"]["reference"] for c in found] == [world.patient_reference]
    assert total == 1
