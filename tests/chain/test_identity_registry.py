"""The IdentityRegistry facade against a real chain (memory and anvil)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.chain import Chain, Deployer, IdentityRegistry, Role, Signer
from careledger.crypto import PrivateKey, Suite
from careledger.errors import AccessDenied, NotFound, TransactionReverted


@pytest.fixture
def registry(any_chain: Chain, signer: Signer) -> IdentityRegistry:
    deployed = Deployer(any_chain, None).deploy(signer, "IdentityRegistry").deployment
    return IdentityRegistry(any_chain, deployed.address, signer)


def _as(registry: IdentityRegistry, account: LocalAccount) -> IdentityRegistry:
    return IdentityRegistry(registry.chain, registry.address, registry.chain.signer(account))


def _now(chain: Chain) -> int:
    return chain.timestamp()


def test_register_read_rotate_and_deactivate(registry: IdentityRegistry) -> None:
    doctor = Account.create()
    first = PrivateKey.derive(doctor.key, Suite.X25519, 1).public_key
    as_doctor = _as(registry, doctor)
    as_doctor.register(Role.PRACTITIONER, first, "https://clinic.example/fhir")
    record = registry.require_actor(doctor.address)
    assert (record.role, record.encryption_key, record.key_version, record.active) == (
        Role.PRACTITIONER,
        first,
        1,
        True,
    )
    assert record.endpoint == "https://clinic.example/fhir"
    second = PrivateKey.derive(doctor.key, Suite.MLKEM768_X25519, 2).public_key
    as_doctor.rotate_key(second)
    rotated = registry.require_actor(doctor.address)
    assert (rotated.encryption_key, rotated.key_version) == (second, 2)
    as_doctor.deactivate(doctor.address)
    assert not registry.require_actor(doctor.address).active


def test_credentials_lifecycle(registry: IdentityRegistry, any_chain: Chain) -> None:
    doctor = Account.create()
    _as(registry, doctor).register(Role.PRACTITIONER, PrivateKey.generate().public_key)
    credential = registry.attest(doctor.address, "medical-licence", _now(any_chain) + 3600)
    assert credential.subject == doctor.address
    assert registry.has_valid_credential(doctor.address, "medical-licence")
    assert registry.has_valid_credential(doctor.address, "Medical-Licence ")  # names are normalised
    assert not registry.has_valid_credential(doctor.address, "pharmacist-licence")
    registry.revoke_credential(credential.credential_id)
    assert not registry.has_valid_credential(doctor.address, "medical-licence")
    assert [c.revoked for c in registry.credentials_of(doctor.address)] == [True]


def test_refusals_carry_the_contract_reason(registry: IdentityRegistry) -> None:
    stranger = Account.create()
    with pytest.raises(TransactionReverted, match="access_control: account is missing role"):
        _as(registry, stranger).attest(stranger.address, "medical-licence", 2**40)
    with pytest.raises(TransactionReverted, match="identity: not an active actor"):
        _as(registry, stranger).rotate_key(PrivateKey.generate().public_key)
    assert registry.actor(stranger.address) is None
    with pytest.raises(NotFound):
        registry.require_actor(stranger.address)
    with pytest.raises(AccessDenied, match="read-only"):
        IdentityRegistry(registry.chain, registry.address).register(Role.PATIENT, PrivateKey.generate().public_key)


def test_role_holders(registry: IdentityRegistry, signer: Signer) -> None:
    assert registry.is_role_holder("ISSUER_ROLE", signer.address)
    assert registry.is_role_holder("REGISTRAR_ROLE", signer.address)
    assert not registry.is_role_holder("ISSUER_ROLE", Account.create().address)
