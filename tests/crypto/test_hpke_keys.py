"""Encryption keys: derivation from a wallet key, versions, suites, encodings."""

from __future__ import annotations

import pytest

from careledger.crypto import PrivateKey, PublicKey, Suite
from careledger.errors import ValidationError

WALLET_KEY = bytes(range(32))


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.label)
def test_derivation_is_deterministic_per_version(suite: Suite) -> None:
    first = PrivateKey.derive(WALLET_KEY, suite, 1)
    assert PrivateKey.derive(WALLET_KEY, suite, 1).public_key == first.public_key
    assert PrivateKey.derive(WALLET_KEY, suite, 2).public_key != first.public_key
    assert PrivateKey.derive(bytes(32), suite, 1).public_key != first.public_key


def test_suites_derive_unrelated_keys() -> None:
    classic = PrivateKey.derive(WALLET_KEY, Suite.X25519).public_key
    hybrid = PrivateKey.derive(WALLET_KEY, Suite.MLKEM768_X25519).public_key
    assert len(classic.raw) == 32
    assert len(hybrid.raw) == 1184 + 32
    assert classic.raw not in hybrid.raw


@pytest.mark.parametrize("suite", list(Suite), ids=lambda s: s.label)
def test_public_key_bytes_round_trip(suite: Suite) -> None:
    key = PrivateKey.generate(suite).public_key
    encoded = key.to_bytes()
    assert encoded[0] == suite
    assert PublicKey.from_bytes(encoded) == key
    assert len(key.fingerprint) == 16


def test_malformed_public_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown encryption suite id 7"):
        PublicKey.from_bytes(b"\x07" + bytes(32))
    with pytest.raises(ValidationError, match="is 32 bytes, got 31"):
        PublicKey.from_bytes(b"\x01" + bytes(31))
    with pytest.raises(ValidationError, match="empty"):
        PublicKey.from_bytes(b"")


def test_suite_names() -> None:
    assert Suite.parse("x25519") is Suite.X25519
    assert Suite.parse("MLKEM768-X25519") is Suite.MLKEM768_X25519
    with pytest.raises(ValidationError, match="choose x25519, mlkem768-x25519"):
        Suite.parse("rsa")


def test_versions_start_at_one() -> None:
    with pytest.raises(ValidationError):
        PrivateKey.derive(WALLET_KEY, Suite.X25519, 0)
