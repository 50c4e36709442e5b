"""IdentityRegistry.vy under titanoboa: registration, keys, deactivation, credentials."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from careledger.crypto import PrivateKey, Suite

PRACTITIONER, PATIENT, DEVICE = 2, 3, 4
LICENCE = keccak(b"medical-licence")
X25519_KEY = PrivateKey.generate(Suite.X25519).public_key.raw
HYBRID_KEY = PrivateKey.generate(Suite.MLKEM768_X25519).public_key.raw
DAY = 86_400
NOT_ITS_DEACTIVATOR = "identity: only the actor, its registrar or the admin deactivates it"


def _address(name: str) -> Any:
    return boa.env.generate_address(name)


def _register(identity: Any, who: Any, role: int = PRACTITIONER, key: bytes = X25519_KEY, suite: int = 1) -> None:
    with boa.env.prank(who):
        identity.register(role, key, suite, "https://clinic.example/fhir", keccak(b"meta"))


def _now() -> int:
    return int(boa.env.evm.patch.timestamp)


def test_self_registration(identity: Any) -> None:
    doctor = _address("doctor")
    _register(identity, doctor)
    (event,) = identity.get_logs()
    assert type(event).__name__ == "ActorRegistered"
    assert (event.actor, event.role, event.registrar) == (doctor, PRACTITIONER, doctor)
    actor = identity.actor(doctor)
    assert actor.role == PRACTITIONER
    assert actor.encryption_key == X25519_KEY
    assert (actor.suite, actor.key_version, actor.active) == (1, 1, True)
    assert actor.endpoint == "https://clinic.example/fhir"
    assert actor.registered_at == _now()
    assert identity.is_active(doctor)
    assert identity.registrar_of(doctor) == "0x" + "00" * 20  # no one registered her for her


def test_post_quantum_keys_register(identity: Any) -> None:
    researcher = _address("pq")
    _register(identity, researcher, key=HYBRID_KEY, suite=2)
    assert identity.actor(researcher).encryption_key == HYBRID_KEY


def test_unregistered_address_reads_as_role_zero(identity: Any) -> None:
    assert identity.actor(_address("nobody")).role == 0
    assert not identity.is_active(_address("nobody"))


@pytest.mark.parametrize(
    ("role", "key", "suite", "reason"),
    [
        (0, X25519_KEY, 1, "identity: unknown role"),
        (10, X25519_KEY, 1, "identity: unknown role"),
        (PATIENT, X25519_KEY[:31], 1, "identity: bad key length"),
        (PATIENT, X25519_KEY, 2, "identity: bad key length"),
        (PATIENT, HYBRID_KEY, 1, "identity: bad key length"),
        (PATIENT, X25519_KEY, 3, "identity: unknown suite"),
    ],
    ids=["role-0", "role-10", "short-key", "x25519-key-as-hybrid", "hybrid-key-as-x25519", "suite-3"],
)
def test_registration_refusals(identity: Any, role: int, key: bytes, suite: int, reason: str) -> None:
    with boa.env.prank(_address("x")), boa.reverts(reason):
        identity.register(role, key, suite, "", b"\x00" * 32)


def test_registers_once(identity: Any) -> None:
    who = _address("twice")
    _register(identity, who)
    with boa.env.prank(who), boa.reverts("identity: already registered"):
        identity.register(PATIENT, X25519_KEY, 1, "", b"\x00" * 32)


def test_registrar_registers_for_others_and_strangers_cannot(identity: Any, admin: Any) -> None:
    device = _address("device")
    with boa.env.prank(admin):
        identity.register_actor(device, DEVICE, X25519_KEY, 1, "", b"\x00" * 32)
    (event,) = identity.get_logs()
    assert (event.actor, event.registrar) == (device, admin)
    assert identity.registrar_of(device) == admin  # kept: a node reads it without scanning the events
    with boa.env.prank(_address("stranger")), boa.reverts("access_control: account is missing role"):
        identity.register_actor(_address("other"), DEVICE, X25519_KEY, 1, "", b"\x00" * 32)
    with boa.env.prank(admin), boa.reverts("identity: zero address"):
        identity.register_actor("0x" + "00" * 20, DEVICE, X25519_KEY, 1, "", b"\x00" * 32)


def test_key_rotation_keeps_history_in_events(identity: Any) -> None:
    doctor = _address("doctor")
    _register(identity, doctor)
    keys = [X25519_KEY, HYBRID_KEY, PrivateKey.generate(Suite.X25519).public_key.raw]
    suites = [1, 2, 1]
    history = []
    for version in (2, 3):
        with boa.env.prank(doctor):
            identity.rotate_key(keys[version - 1], suites[version - 1])
        (event,) = identity.get_logs()
        history.append((event.key_version, event.old_key, event.old_suite, event.new_key, event.new_suite))
    assert history == [(2, keys[0], 1, keys[1], 2), (3, keys[1], 2, keys[2], 1)]
    actor = identity.actor(doctor)
    assert (actor.encryption_key, actor.suite, actor.key_version) == (keys[2], 1, 3)


def test_only_active_actors_rotate_or_update(identity: Any) -> None:
    stranger = _address("stranger")
    with boa.env.prank(stranger), boa.reverts("identity: not an active actor"):
        identity.rotate_key(X25519_KEY, 1)
    with boa.env.prank(stranger), boa.reverts("identity: not an active actor"):
        identity.update("https://x", b"\x00" * 32)
    doctor = _address("doctor")
    _register(identity, doctor)
    with boa.env.prank(doctor), boa.reverts("identity: bad key length"):
        identity.rotate_key(b"\x01" * 5, 1)


def test_update_endpoint(identity: Any) -> None:
    lab = _address("lab")
    _register(identity, lab, role=7)
    with boa.env.prank(lab):
        identity.update("https://lab.example/fhir", keccak(b"v2"))
    actor = identity.actor(lab)
    assert (actor.endpoint, actor.metadata_hash) == ("https://lab.example/fhir", keccak(b"v2"))


def test_deactivation_by_self_registrar_not_stranger(identity: Any, admin: Any) -> None:
    first, second = _address("first"), _address("second")
    _register(identity, first)
    _register(identity, second)
    with boa.env.prank(_address("stranger")), boa.reverts(NOT_ITS_DEACTIVATOR):
        identity.deactivate(first)
    with boa.env.prank(first):
        identity.deactivate(first)
    with boa.env.prank(admin):
        identity.deactivate(second)
    assert not identity.is_active(first)
    assert not identity.is_active(second)
    with boa.env.prank(admin), boa.reverts("identity: not an active actor"):
        identity.deactivate(first)
    with boa.env.prank(first), boa.reverts("identity: not an active actor"):
        identity.rotate_key(X25519_KEY, 1)


def test_a_registrar_deactivates_only_the_actors_it_registered(identity: Any, admin: Any) -> None:
    """A member node (REGISTRAR_ROLE) removes its own practitioners and patients, and nobody else: not another
    node, nor another node's actors, nor one that registered itself; it loses that power with its role."""
    hospital, clinic = _address("hospital"), _address("clinic")
    nurse, patient, walk_in = _address("nurse"), _address("patient"), _address("walk-in")
    _register(identity, hospital, role=1)
    _register(identity, clinic, role=1)
    _register(identity, walk_in)
    with boa.env.prank(admin):
        for node in (hospital, clinic):
            identity.grantRole(identity.REGISTRAR_ROLE(), node)
    with boa.env.prank(hospital):
        identity.register_actor(nurse, PRACTITIONER, X25519_KEY, 1, "", keccak(b"meta"))
        identity.register_custodial(patient, X25519_KEY, 1, keccak(b"meta"))
    with boa.env.prank(clinic):
        for victim in (hospital, nurse, patient, walk_in):
            with boa.reverts(NOT_ITS_DEACTIVATOR):
                identity.deactivate(victim)
    assert all(identity.is_active(who) for who in (hospital, nurse, patient, walk_in))
    with boa.env.prank(hospital):
        identity.deactivate(nurse)
    assert not identity.is_active(nurse)
    with boa.env.prank(admin):
        identity.revokeRole(identity.REGISTRAR_ROLE(), hospital)
    with boa.env.prank(hospital), boa.reverts(NOT_ITS_DEACTIVATOR):
        identity.deactivate(patient)
    with boa.env.prank(admin):
        identity.deactivate(patient)
    assert not identity.is_active(patient)


@pytest.fixture
def doctor(identity: Any) -> Any:
    who = _address("doctor")
    _register(identity, who)
    return who


def _attest(identity: Any, issuer: Any, subject: Any, days: int = 365, revocable: bool = True) -> int:
    with boa.env.prank(issuer):
        credential_id: int = identity.attest(subject, LICENCE, _now() + days * DAY, revocable)
    return credential_id


def test_attested_credential_is_valid_until_expiry(identity: Any, admin: Any, doctor: Any) -> None:
    assert not identity.has_valid_credential(doctor, LICENCE)
    credential_id = _attest(identity, admin, doctor, days=30)
    assert credential_id == 1
    assert identity.has_valid_credential(doctor, LICENCE)
    assert not identity.has_valid_credential(doctor, keccak(b"other-type"))
    boa.env.time_travel(seconds=30 * DAY - 1)
    assert identity.has_valid_credential(doctor, LICENCE)  # the last second
    boa.env.time_travel(seconds=1)
    assert not identity.has_valid_credential(doctor, LICENCE)


def test_revoked_credential_is_invalid(identity: Any, admin: Any, doctor: Any) -> None:
    credential_id = _attest(identity, admin, doctor)
    with boa.env.prank(_address("stranger")), boa.reverts("access_control: account is missing role"):
        identity.revoke_credential(credential_id)
    with boa.env.prank(admin):
        identity.revoke_credential(credential_id)
    assert not identity.has_valid_credential(doctor, LICENCE)
    with boa.env.prank(admin), boa.reverts("identity: credential already revoked"):
        identity.revoke_credential(credential_id)
    with boa.env.prank(admin), boa.reverts("identity: no such credential"):
        identity.revoke_credential(99)


def test_irrevocable_credential_only_expires(identity: Any, admin: Any, doctor: Any) -> None:
    credential_id = _attest(identity, admin, doctor, revocable=False)
    with boa.env.prank(admin), boa.reverts("identity: credential not revocable"):
        identity.revoke_credential(credential_id)
    assert identity.has_valid_credential(doctor, LICENCE)


def test_issuer_revokes_its_own_and_a_board_losing_its_role_voids_them(identity: Any, admin: Any, doctor: Any) -> None:
    board = _address("licensing-board")
    with boa.env.prank(admin):
        identity.grantRole(identity.ISSUER_ROLE(), board)
    first = _attest(identity, board, doctor)
    with boa.env.prank(board):
        identity.revoke_credential(first)
    _attest(identity, board, doctor)
    assert identity.has_valid_credential(doctor, LICENCE)
    with boa.env.prank(admin):
        identity.revokeRole(identity.ISSUER_ROLE(), board)
    assert not identity.has_valid_credential(doctor, LICENCE)


def test_deactivated_subject_has_no_valid_credentials(identity: Any, admin: Any, doctor: Any) -> None:
    _attest(identity, admin, doctor)
    with boa.env.prank(doctor):
        identity.deactivate(doctor)
    assert not identity.has_valid_credential(doctor, LICENCE)


def test_attestation_refusals(identity: Any, admin: Any, doctor: Any) -> None:
    with boa.env.prank(_address("stranger")), boa.reverts("access_control: account is missing role"):
        identity.attest(doctor, LICENCE, _now() + DAY, True)
    with boa.env.prank(admin), boa.reverts("identity: not an active actor"):
        identity.attest(_address("unregistered"), LICENCE, _now() + DAY, True)
    with boa.env.prank(admin), boa.reverts("identity: expiry in the past"):
        identity.attest(doctor, LICENCE, _now(), True)
    with boa.env.prank(admin), boa.reverts("identity: empty credential type"):
        identity.attest(doctor, b"\x00" * 32, _now() + DAY, True)


def test_attestation_event(identity: Any, admin: Any, doctor: Any) -> None:
    expires = _now() + DAY
    with boa.env.prank(admin):
        identity.attest(doctor, LICENCE, expires, False)
    (event,) = identity.get_logs()
    assert (event.credential_id, event.subject, event.credential_type) == (1, doctor, LICENCE)
    assert (event.issuer, event.expires_at, event.revocable) == (admin, expires, False)


def test_only_admin_manages_roles(identity: Any, admin: Any) -> None:
    stranger = _address("stranger")
    for role in (identity.ISSUER_ROLE(), identity.REGISTRAR_ROLE()):
        with boa.env.prank(stranger), boa.reverts("access_control: account is missing role"):
            identity.grantRole(role, stranger)
        with boa.env.prank(stranger), boa.reverts("access_control: account is missing role"):
            identity.revokeRole(role, admin)
        with boa.env.prank(stranger), boa.reverts("access_control: account is missing role"):
            identity.set_role_admin(role, role)
    assert identity.hasRole(identity.ISSUER_ROLE(), admin)


@given(days=st.integers(1, 3650), elapsed=st.integers(0, 4000 * DAY), revoke=st.booleans())
def test_validity_is_exactly_unexpired_and_unrevoked(
    identity: Any, admin: Any, doctor: Any, days: int, elapsed: int, revoke: bool
) -> None:
    with boa.env.anchor():
        credential_id = _attest(identity, admin, doctor, days=days)
        expires = identity.credentials(credential_id).expires_at
        if revoke:
            with boa.env.prank(admin):
                identity.revoke_credential(credential_id)
        boa.env.time_travel(seconds=elapsed)
        assert identity.has_valid_credential(doctor, LICENCE) == (not revoke and _now() < expires)


def test_a_custodian_registers_a_patient_whose_key_it_holds(identity: Any, admin: Any) -> None:
    patient, stranger = _address("walk-in patient"), _address("stranger")
    with boa.env.prank(stranger), boa.reverts("access_control: account is missing role"):
        identity.register_custodial(patient, X25519_KEY, 1, bytes(32))
    with boa.env.prank(admin):
        identity.register_custodial(patient, X25519_KEY, 1, bytes(32))
    registered, custodial = identity.get_logs()
    assert type(registered).__name__ == "ActorRegistered"
    assert (type(custodial).__name__, custodial.actor, custodial.custodian) == ("CustodialRegistered", patient, admin)
    assert identity.actor(patient).role == PATIENT
    assert identity.custodian_of(patient) == admin
    assert identity.custodian_of(admin) == "0x0000000000000000000000000000000000000000"
    with boa.env.prank(admin), boa.reverts("identity: already registered"):
        identity.register_custodial(patient, X25519_KEY, 1, bytes(32))


ZERO = "0x0000000000000000000000000000000000000000"


def _custodial(identity: Any, custodian: Any) -> Any:
    patient = _address("custodial patient")
    with boa.env.prank(custodian):
        identity.register_custodial(patient, X25519_KEY, 1, bytes(32))
    return patient


def test_a_patient_claims_her_custodial_identity_once_and_the_custodian_lets_go(identity: Any, admin: Any) -> None:
    patient, wallet, stranger = _custodial(identity, admin), _address("her wallet"), _address("stranger")
    assert identity.manager_of(patient) == admin
    her_key = PrivateKey.generate(Suite.X25519).public_key.raw
    with boa.env.prank(stranger), boa.reverts("identity: not this identity's custodian"):
        identity.claim_custodial(patient, wallet, her_key, 1)
    with boa.env.prank(admin):
        identity.claim_custodial(patient, wallet, her_key, 1)
    rotated, claimed = identity.get_logs()
    assert (type(claimed).__name__, claimed.actor, claimed.owner, claimed.custodian) == (
        "CustodialClaimed",
        patient,
        wallet,
        admin,
    )
    assert (rotated.new_key, identity.actor(patient).encryption_key) == (her_key, her_key)
    assert (identity.claimed_by(patient), identity.identity_of(wallet)) == (wallet, patient)
    assert (identity.custodian_of(patient), identity.manager_of(patient)) == (ZERO, wallet)
    with boa.env.prank(admin), boa.reverts("identity: not this identity's custodian"):
        identity.claim_custodial(patient, _address("another wallet"), her_key, 1)


def test_a_claim_refuses_a_wallet_that_holds_an_identity_or_is_another_actor(identity: Any, admin: Any) -> None:
    first, doctor, wallet = _custodial(identity, admin), _address("doctor"), _address("shared wallet")
    with boa.env.prank(admin):
        second = _address("second custodial")
        identity.register_custodial(second, X25519_KEY, 1, bytes(32))
        identity.claim_custodial(first, wallet, X25519_KEY, 1)
        with boa.reverts("identity: this wallet already holds an identity"):
            identity.claim_custodial(second, wallet, X25519_KEY, 1)
    _register(identity, doctor, PRACTITIONER)
    with boa.env.prank(admin), boa.reverts("identity: the wallet of another actor"):
        identity.claim_custodial(second, doctor, X25519_KEY, 1)


def _claimed(identity: Any, admin: Any, wallet: Any) -> Any:
    patient = _custodial(identity, admin)
    with boa.env.prank(admin):
        identity.claim_custodial(patient, wallet, X25519_KEY, 1)
    return patient


def test_the_owner_rotates_to_a_new_wallet_and_a_new_key(identity: Any, admin: Any) -> None:
    old, new, stranger = _address("old wallet"), _address("new wallet"), _address("stranger")
    patient = _claimed(identity, admin, old)
    new_key = PrivateKey.generate(Suite.X25519).public_key.raw
    with boa.env.prank(stranger), boa.reverts("identity: not the owner"):
        identity.rotate_owner(patient, stranger)
    with boa.env.prank(old):
        identity.rotate_owner(patient, new)
    assert (identity.claimed_by(patient), identity.identity_of(new), identity.identity_of(old)) == (new, patient, ZERO)
    with boa.env.prank(old), boa.reverts("identity: not the owner"):
        identity.rotate_key_of(patient, new_key, 1)
    with boa.env.prank(new):
        identity.rotate_key_of(patient, new_key, 1)
    assert identity.actor(patient).encryption_key == new_key


def test_k_of_n_guardians_recover_an_identity_whose_wallet_is_lost(identity: Any, admin: Any) -> None:
    lost, found = _address("lost wallet"), _address("found wallet")
    patient = _claimed(identity, admin, lost)
    guardians = [_address(f"guardian {i}") for i in range(3)]
    with boa.env.prank(guardians[0]), boa.reverts("identity: not the owner"):
        identity.set_guardians(patient, guardians, 2)
    with boa.env.prank(lost):
        with boa.reverts("identity: threshold above the guardians"):
            identity.set_guardians(patient, guardians, 4)
        with boa.reverts("identity: duplicate guardian"):
            identity.set_guardians(patient, [guardians[0], guardians[0]], 1)
        with boa.reverts("identity: invalid guardian"):
            identity.set_guardians(patient, [lost], 1)
        identity.set_guardians(patient, guardians, 2)
    assert (list(identity.guardians_of(patient)), identity.recovery_threshold(patient)) == (guardians, 2)
    with boa.env.prank(_address("stranger")), boa.reverts("identity: not a guardian"):
        identity.approve_recovery(patient, found)
    with boa.env.prank(guardians[0]):
        identity.approve_recovery(patient, found)
        with boa.reverts("identity: already approved"):
            identity.approve_recovery(patient, found)
    with boa.env.prank(guardians[1]):
        identity.approve_recovery(patient, _address("thief"))  # approvals for another wallet do not add up
    assert identity.claimed_by(patient) == lost
    with boa.env.prank(guardians[2]):
        identity.approve_recovery(patient, found)
    changed = identity.get_logs()[-1]
    assert (type(changed).__name__, changed.old_owner, changed.new_owner, changed.recovered) == (
        "OwnerChanged",
        lost,
        found,
        True,
    )
    assert (identity.claimed_by(patient), identity.identity_of(found), identity.identity_of(lost)) == (
        found,
        patient,
        ZERO,
    )
    # Approvals given before the hand-over do not count after it.
    with boa.env.prank(guardians[1]):
        identity.approve_recovery(patient, _address("thief"))
    assert identity.claimed_by(patient) == found
