"""The data envelope: round trips, re-sealing, and every kind of tampering refused."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careledger.crypto import (
    DataKeyCache,
    Envelope,
    PrivateKey,
    RecordContext,
    SealedKey,
    Suite,
    reseal,
    seal,
    unseal,
)
from careledger.errors import DecryptionError, ValidationError
from tests.tamper import flip_bit

CONTEXT = RecordContext(record_id="obs-1", version=2, patient="0x" + "ab" * 20, category="labs")
RECORD = b'{"resourceType":"Observation","status":"final"}' * 40


@pytest.fixture(params=list(Suite), ids=lambda s: s.label)
def suite(request: pytest.FixtureRequest) -> Suite:
    chosen: Suite = request.param
    return chosen


@pytest.fixture
def patient(suite: Suite) -> PrivateKey:
    return PrivateKey.derive(b"\x07" * 32, suite)


@pytest.fixture
def envelope(patient: PrivateKey, suite: Suite) -> Envelope:
    custodian = PrivateKey.generate(suite)
    return seal(RECORD, CONTEXT, [patient.public_key, custodian.public_key])


def test_every_recipient_opens_it(suite: Suite) -> None:
    readers = [PrivateKey.generate(suite) for _ in range(3)]
    envelope = seal(RECORD, CONTEXT, [r.public_key for r in readers])
    assert [unseal(envelope, CONTEXT, r) for r in readers] == [RECORD] * 3
    assert RECORD not in envelope.ciphertext


def test_sealed_key_sizes(patient: PrivateKey, envelope: Envelope) -> None:
    expected = 80 if patient.suite is Suite.X25519 else 1168
    assert len(envelope.sealed_for(patient.public_key).sealed) == expected


def test_suites_coexist_in_one_envelope() -> None:
    classic, hybrid = PrivateKey.generate(Suite.X25519), PrivateKey.generate(Suite.MLKEM768_X25519)
    envelope = seal(RECORD, CONTEXT, [classic.public_key, hybrid.public_key])
    assert unseal(envelope, CONTEXT, classic) == unseal(envelope, CONTEXT, hybrid) == RECORD
    assert {k.suite for k in envelope.sealed_keys} == {Suite.X25519, Suite.MLKEM768_X25519}


def test_reseal_shares_without_touching_the_data(patient: PrivateKey, envelope: Envelope, suite: Suite) -> None:
    grantee = PrivateKey.generate(Suite.X25519 if suite is Suite.MLKEM768_X25519 else suite)
    shared = reseal(envelope.sealed_for(patient.public_key), CONTEXT, patient, grantee.public_key)
    assert unseal(Envelope(envelope.ciphertext, (shared,)), CONTEXT, grantee) == RECORD


def test_a_stranger_cannot_open_or_reseal(envelope: Envelope, patient: PrivateKey, suite: Suite) -> None:
    stranger = PrivateKey.generate(suite)
    with pytest.raises(DecryptionError, match="no data key is sealed to this key"):
        unseal(envelope, CONTEXT, stranger)
    forged = dataclasses.replace(envelope.sealed_for(patient.public_key), recipient=stranger.public_key.fingerprint)
    with pytest.raises(DecryptionError, match="sealed data key does not open"):
        unseal(Envelope(envelope.ciphertext, (forged,)), CONTEXT, stranger)
    with pytest.raises(DecryptionError):
        reseal(envelope.sealed_for(patient.public_key), CONTEXT, stranger, stranger.public_key)


def test_wrong_suite_is_refused(envelope: Envelope, patient: PrivateKey) -> None:
    sealed = envelope.sealed_for(patient.public_key)
    other = Suite.MLKEM768_X25519 if sealed.suite is Suite.X25519 else Suite.X25519
    relabelled = dataclasses.replace(sealed, suite=other)
    with pytest.raises(DecryptionError, match="sealed for"):
        unseal(Envelope(envelope.ciphertext, (relabelled,)), CONTEXT, patient)
    with pytest.raises(DecryptionError):
        SealedKey.from_bytes(bytes([9]) + sealed.to_bytes()[1:])


@given(data=st.data())
def test_a_flipped_bit_in_the_ciphertext_or_nonce_is_refused(
    envelope: Envelope, patient: PrivateKey, data: st.DataObject
) -> None:
    damaged = Envelope(flip_bit(data, envelope.ciphertext), envelope.sealed_keys)
    with pytest.raises(DecryptionError, match="ciphertext does not decrypt"):
        unseal(damaged, CONTEXT, patient)


@given(data=st.data())
def test_a_flipped_bit_in_the_sealed_key_is_refused(
    envelope: Envelope, patient: PrivateKey, data: st.DataObject
) -> None:
    sealed = envelope.sealed_for(patient.public_key)
    damaged = dataclasses.replace(sealed, sealed=flip_bit(data, sealed.sealed))
    with pytest.raises(DecryptionError, match="sealed data key does not open"):
        unseal(Envelope(envelope.ciphertext, (damaged,)), CONTEXT, patient)


@pytest.mark.parametrize(
    "changed",
    [
        dataclasses.replace(CONTEXT, record_id="obs-2"),
        dataclasses.replace(CONTEXT, version=3),
        dataclasses.replace(CONTEXT, patient="0x" + "cd" * 20),
        dataclasses.replace(CONTEXT, category="mental-health"),
    ],
    ids=["record", "version", "patient", "category"],
)
def test_another_context_is_refused(envelope: Envelope, patient: PrivateKey, changed: RecordContext) -> None:
    with pytest.raises(DecryptionError):
        unseal(envelope, changed, patient)


@given(data=st.data())
def test_the_data_key_cache_refuses_what_unseal_refuses(
    envelope: Envelope, patient: PrivateKey, suite: Suite, data: st.DataObject
) -> None:
    keys = DataKeyCache(size=2)
    assert unseal(envelope, CONTEXT, patient, keys) == unseal(envelope, CONTEXT, patient, keys) == RECORD
    sealed = envelope.sealed_for(patient.public_key)
    damaged = dataclasses.replace(sealed, sealed=flip_bit(data, sealed.sealed))
    with pytest.raises(DecryptionError, match="sealed data key does not open"):
        unseal(Envelope(envelope.ciphertext, (damaged,)), CONTEXT, patient, keys)
    with pytest.raises(DecryptionError):
        unseal(envelope, dataclasses.replace(CONTEXT, version=3), patient, keys)
    stranger = PrivateKey.generate(suite)
    with pytest.raises(DecryptionError, match="sealed data key does not open"):  # a hit is never a stranger's
        keys.open(dataclasses.replace(sealed, recipient=stranger.public_key.fingerprint), CONTEXT.aad(), stranger)


def test_truncations_are_refused(envelope: Envelope, patient: PrivateKey) -> None:
    with pytest.raises(DecryptionError, match="truncated"):
        unseal(Envelope(envelope.ciphertext[:20], envelope.sealed_keys), CONTEXT, patient)
    with pytest.raises(DecryptionError, match="truncated"):
        SealedKey.from_bytes(b"\x01" * 10)


def test_sealed_key_bytes_round_trip(envelope: Envelope) -> None:
    for sealed in envelope.sealed_keys:
        assert SealedKey.from_bytes(sealed.to_bytes()) == sealed


def test_no_recipients_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="at least one recipient"):
        seal(RECORD, CONTEXT, [])
