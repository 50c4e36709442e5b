"""Revocations and care team restrictions a patient signs with any wallet, submitted (and paid for) by a node."""

from __future__ import annotations

import pytest

from careledger.consent import Purpose, SignedActions
from careledger.crypto import sign_typed_data
from careledger.errors import AccessDenied, Conflict, TransactionReverted, ValidationError
from careledger.records import Category
from tests.access.conftest import World


def test_a_signed_revocation_is_submitted_by_the_node_once(world: World) -> None:
    alice = world.node.unlock(world.alice.name).account
    terms = world.consent.terms(world.alice.address, world.clinic.address, [Category.LABS], [Purpose.TREAT], days=30)
    grant = world.consent.grant(world.alice.name, terms)
    actions = SignedActions(world.consent, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    typed = actions.prepare_revocation(grant.grant_id)
    assert typed["primaryType"] == "Revocation"
    stranger = world.node.unlock(world.drbob.name).account
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        actions.submit(world.clinic.name, typed, sign_typed_data(stranger, typed))
    signature = sign_typed_data(alice, typed)
    with pytest.raises(AccessDenied, match="signed-in patient"):
        actions.submit(world.clinic.name, typed, signature, patient=world.drbob.address)
    with pytest.raises(ValidationError, match="expected a signed CareTeamRestriction"):
        actions.submit(world.clinic.name, typed, signature, kind="CareTeamRestriction")
    revoked = actions.submit(world.clinic.name, typed, signature, kind="Revocation", patient=world.alice.address)
    assert revoked.fields["grantId"] == grant.grant_id  # the clinic paid the gas; alice only signed
    assert world.consent.get(grant.grant_id).revoked
    assert world.consent.check(world.alice.address, world.clinic.address, Category.LABS, Purpose.TREAT) is None
    with pytest.raises(Conflict, match="already revoked"):
        actions.submit(world.clinic.name, typed, signature)
    with pytest.raises(ValidationError, match="not a signed action"):
        actions.submit(world.clinic.name, {**typed, "primaryType": "Consent"}, signature)


def test_a_signed_care_team_restriction_keeps_the_care_team_out(world: World) -> None:
    alice = world.node.unlock(world.alice.name).account
    actions = SignedActions(world.consent, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    typed = actions.prepare_restriction(world.alice.address, world.node.address, [Category.LABS])
    tampered = {**typed, "message": {**typed["message"], "categories": Category.GENERAL.bit}}
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        actions.submit(world.clinic.name, tampered, sign_typed_data(alice, typed))
    actions.submit(world.clinic.name, typed, sign_typed_data(alice, typed))
    assert world.consent.care_team_restricted(world.alice.address, world.node.address, Category.LABS)
    assert not world.consent.care_team_restricted(world.alice.address, world.node.address, Category.VITALS)
    lifted = actions.prepare_restriction(world.alice.address, world.node.address, [])
    actions.submit(world.clinic.name, lifted, sign_typed_data(alice, lifted))
    assert not world.consent.care_team_restricted(world.alice.address, world.node.address, Category.LABS)
    world.travel(2 * 86_400)
    late = actions.prepare_restriction(world.alice.address, world.node.address, [Category.LABS], valid_for_days=1)
    world.travel(2 * 86_400)
    with pytest.raises(ValidationError, match="past its deadline"):
        actions.submit(world.clinic.name, late, sign_typed_data(alice, late))
