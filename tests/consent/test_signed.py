"""Consents, revocations, care team restrictions and break-glass settings a patient signs with any wallet, submitted
(and paid for) by a node; whatever comes back from outside in their place parses or is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import example, given
from hypothesis import strategies as st

from careledger.chain import action_from_typed_data, action_typed_data, consent_typed_data
from careledger.consent import (
    ConsentTerms,
    Purpose,
    SignedAction,
    SignedActions,
    SignedConsent,
    read_signed_consent,
    signature_file,
    write_consent,
)
from careledger.crypto import recover_typed_data_signer, sign_typed_data
from careledger.errors import AccessDenied, Conflict, TransactionReverted, ValidationError
from careledger.records import Category
from tests.access.conftest import World
from tests.exchange.hostile import PROPERTY, changed, from_outside, hex_strings, refused_or_parsed


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


def test_a_signed_emergency_access_setting_turns_break_glass_off_without_her_gas(world: World) -> None:
    alice = world.node.unlock(world.alice.name).account
    actions = SignedActions(world.consent, world.node.contracts.consent_registry, clock=lambda: world.now[0])
    registry, chain = world.node.contracts.consent_registry(), world.node.chain
    off = actions.prepare_emergency_access(world.alice.address, allowed=False)
    assert (off["primaryType"], off["message"]["allowed"]) == ("EmergencyAccessSetting", False)
    signature, sent = sign_typed_data(alice, off), chain.transaction_count(world.alice.address)
    turned_on = {**off, "message": {**off["message"], "allowed": True}}
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        actions.submit(world.clinic.name, turned_on, signature)  # she signed off: it cannot be sent as on
    with pytest.raises(ValidationError, match="allowed is a bool"):
        actions.submit(world.clinic.name, {**off, "message": {**off["message"], "allowed": 0}}, signature)
    with pytest.raises(ValidationError, match="expected a signed Revocation"):
        actions.submit(world.clinic.name, off, signature, kind="Revocation")
    with pytest.raises(AccessDenied, match="signed-in patient"):
        actions.submit(world.clinic.name, off, signature, patient=world.drbob.address)
    actions.submit(world.clinic.name, off, signature, kind="EmergencyAccessSetting", patient=world.alice.address)
    assert not registry.emergency_access_allowed(world.alice.address)
    assert chain.transaction_count(world.alice.address) == sent  # the clinic paid; alice only signed
    with pytest.raises(Conflict, match="emergency access setting was already submitted"):
        actions.submit(world.clinic.name, off, signature)
    on = actions.prepare_emergency_access(world.alice.address, allowed=True)
    mallory = world.node.unlock(world.mallory.name).account
    with pytest.raises(TransactionReverted, match="not the patient or a live delegate"):
        actions.submit(world.clinic.name, on, sign_typed_data(mallory, on))
    actions.submit(world.clinic.name, on, sign_typed_data(alice, on))
    assert registry.emergency_access_allowed(world.alice.address)


# What a patient's wallet signs, parsed wherever it comes back from outside: a file (`consent submit`), a portal
# form, a study's join. Whatever arrives parses (with whoever signed it) or is refused with a 4xx.

CHAIN_ID = 31337
REGISTRY = "0x" + "33" * 20
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
_patient = Account.create()
_TERMS = ConsentTerms(_patient.address, REGISTRY, 1, 1, 0, 2**32)
GOOD_CONSENT = consent_typed_data(_TERMS, nonce=0, deadline=2**40, chain_id=CHAIN_ID, contract=REGISTRY)
GOOD_SIGNATURE = sign_typed_data(_patient, GOOD_CONSENT)
GOOD_REVOCATION = action_typed_data(
    "Revocation",
    _patient.address,
    {"grantee": REGISTRY, "grantId": 7},
    nonce=1,
    deadline=2**40,
    chain_id=CHAIN_ID,
    contract=REGISTRY,
)
GOOD_RESTRICTION = action_typed_data(
    "CareTeamRestriction",
    _patient.address,
    {"custodian": REGISTRY, "categories": 3},
    nonce=1,
    deadline=2**40,
    chain_id=CHAIN_ID,
    contract=REGISTRY,
)
GOOD_SETTING = action_typed_data(
    "EmergencyAccessSetting",
    _patient.address,
    {"allowed": False},
    nonce=1,
    deadline=2**40,
    chain_id=CHAIN_ID,
    contract=REGISTRY,
)
signatures = st.just(GOOD_SIGNATURE) | st.binary(max_size=70)


def uints(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**bits - 1)


@PROPERTY
@given(typed=from_outside(GOOD_CONSENT), signature=signatures)
@example(typed=changed(GOOD_CONSENT, ("types",), 255), signature=GOOD_SIGNATURE)  # was a 500: AttributeError
@example(typed=changed(GOOD_CONSENT, ("message", "categories"), 2**16), signature=GOOD_SIGNATURE)  # ValueOutOfBounds
@example(typed=changed(GOOD_CONSENT, ("domain", "chainId"), -1), signature=GOOD_SIGNATURE)  # ValueOutOfBounds
@example(typed=changed(GOOD_CONSENT, ("message", "expiry"), float("inf")), signature=GOOD_SIGNATURE)  # OverflowError
def test_any_consent_typed_data_parses_with_its_signer_or_is_refused(typed: Any, signature: bytes) -> None:
    signed = refused_or_parsed(lambda: SignedConsent.from_typed_data(typed, signature))
    if signed is not None:
        assert signed.signer == refused_or_parsed(lambda: recover_typed_data_signer(signed.typed_data(), signature))


@PROPERTY
@given(
    text=from_outside(GOOD_CONSENT).map(json.dumps) | st.text(max_size=50),
    signature=st.none() | st.just("0x" + GOOD_SIGNATURE.hex()) | hex_strings | st.text(max_size=140),
)
def test_any_consent_file_and_signature_are_read_or_refused(text: str, signature: str | None, tmp_path: Path) -> None:
    path = tmp_path / "consent.json"
    path.write_text(text)
    signature_file(path).write_text("0x" + GOOD_SIGNATURE.hex())
    refused_or_parsed(lambda: read_signed_consent(path, signature))


@PROPERTY
@given(
    patient=addresses,
    grantee=addresses,
    categories=uints(16),
    purposes=uints(8),
    not_before=uints(64),
    expiry=uints(64),
    nonce=uints(256),
    deadline=uints(256),
)
def test_a_consent_signed_by_a_fresh_wallet_travels_as_a_file_and_recovers_its_signer(
    patient: str,
    grantee: str,
    categories: int,
    purposes: int,
    not_before: int,
    expiry: int,
    nonce: int,
    deadline: int,
    tmp_path: Path,
) -> None:
    wallet = Account.create()
    terms = ConsentTerms(patient, grantee, categories, purposes, not_before, expiry)
    typed = consent_typed_data(terms, nonce=nonce, deadline=deadline, chain_id=CHAIN_ID, contract=REGISTRY)
    path = tmp_path / "consent.json"
    write_consent(path, typed, sign_typed_data(wallet, typed))
    signed = read_signed_consent(path)
    assert (signed.terms, signed.nonce, signed.deadline, signed.signer) == (terms, nonce, deadline, wallet.address)


def _checkable(action: SignedAction) -> None:
    """What the node would submit of a parsed action: its typed data, which a signature can be checked against."""
    again = action_typed_data(
        action.kind,
        action.patient,
        action.fields,
        nonce=action.nonce,
        deadline=action.deadline,
        chain_id=action.chain_id,
        contract=action.contract,
    )
    refused_or_parsed(lambda: recover_typed_data_signer(again, GOOD_SIGNATURE))


@PROPERTY
@given(typed=from_outside(GOOD_REVOCATION) | from_outside(GOOD_RESTRICTION) | from_outside(GOOD_SETTING))
@example(typed=changed(GOOD_REVOCATION, ("primaryType",), {}))  # was a 500: TypeError, unhashable
@example(typed=changed(GOOD_RESTRICTION, ("message", "categories"), -1))  # was a 500: ValueOutOfBounds
@example(typed=changed(GOOD_SETTING, ("message", "allowed"), "false"))  # a string would sign as true
def test_any_signed_action_typed_data_parses_or_is_refused(typed: Any) -> None:
    action = refused_or_parsed(lambda: action_from_typed_data(typed))
    if action is not None:
        _checkable(action)


@PROPERTY
@given(
    patient=addresses,
    other=addresses,
    number=uints(256),
    categories=uints(16),
    nonce=uints(256),
    deadline=uints(256),
    revocation=st.booleans(),
)
def test_a_signed_action_travels_as_json_and_recovers_its_signer(
    patient: str, other: str, number: int, categories: int, nonce: int, deadline: int, revocation: bool
) -> None:
    wallet = Account.create()
    kind, fields = (
        ("Revocation", {"grantee": other, "grantId": number})
        if revocation
        else ("CareTeamRestriction", {"custodian": other, "categories": categories})
    )
    typed = action_typed_data(
        kind, patient, fields, nonce=nonce, deadline=deadline, chain_id=CHAIN_ID, contract=REGISTRY
    )
    action = action_from_typed_data(json.loads(json.dumps(typed)))
    assert (action.kind, action.patient, action.fields, action.nonce, action.deadline) == (
        kind,
        patient,
        fields,
        nonce,
        deadline,
    )
    assert recover_typed_data_signer(typed, sign_typed_data(wallet, typed)) == wallet.address
