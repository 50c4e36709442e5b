"""Encryption key pairs for sealing data keys with HPKE (RFC 9180), in two suites.

- `Suite.X25519`: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. The default.
- `Suite.MLKEM768_X25519`: the ML-KEM-768 + X25519 hybrid KEM (X-Wing), same KDF and
  AEAD: post-quantum, at the price of a 1,168-byte sealed key.

The suite travels with every public key and every sealed key, so nodes on either suite
coexist. An actor's encryption keys are derived from its wallet key with HKDF and a
version number: one keystore protects everything, and rotating means taking the next
version while old versions stay derivable for data sealed to them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from careledger.errors import ValidationError

_X25519_LEN = 32
_MLKEM768_PUBLIC_LEN = 1184
_MLKEM_SEED_LEN = 64


class Suite(IntEnum):
    """HPKE suites by CareLedger id (stored with keys and sealed data keys)."""

    X25519 = 1
    MLKEM768_X25519 = 2

    @property
    def hpke(self) -> hpke.Suite:
        """The HPKE cipher suite this key suite uses."""
        return _HPKE_SUITES[self]

    @classmethod
    def parse(cls, name: str) -> Suite:
        """From a user's spelling: `x25519` or `mlkem768-x25519`."""
        normalised = name.strip().upper().replace("-", "_")
        try:
            return cls[normalised]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValidationError(f"unknown encryption suite {name!r} (choose {choices})") from None

    @property
    def label(self) -> str:
        """The suite's name (x25519, mlkem768-x25519)."""
        return self.name.lower().replace("_", "-")


_HPKE_SUITES = {
    Suite.X25519: hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
    Suite.MLKEM768_X25519: hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM),
}


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A recipient's public encryption key: its suite and raw bytes."""

    suite: Suite
    raw: bytes

    def __post_init__(self) -> None:
        expected = _X25519_LEN if self.suite is Suite.X25519 else _MLKEM768_PUBLIC_LEN + _X25519_LEN
        if len(self.raw) != expected:
            raise ValidationError(f"a {self.suite.label} public key is {expected} bytes, got {len(self.raw)}")

    def to_bytes(self) -> bytes:
        """Suite id byte, then the raw key: the form registered on chain."""
        return bytes([self.suite]) + self.raw

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """A public key from its suite byte and raw bytes."""
        if not data:
            raise ValidationError("empty public key")
        try:
            suite = Suite(data[0])
        except ValueError:
            raise ValidationError(f"unknown encryption suite id {data[0]}") from None
        return cls(suite, bytes(data[1:]))

    @property
    def fingerprint(self) -> bytes:
        """16 bytes naming this key in sealed data keys (SHA-256 of `to_bytes`)."""
        return hashlib.sha256(self.to_bytes()).digest()[:16]

    def hpke_key(self) -> x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey:
        """The key as the HPKE library takes it."""
        if self.suite is Suite.X25519:
            return x25519.X25519PublicKey.from_public_bytes(self.raw)
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:_MLKEM768_PUBLIC_LEN]),
            x25519.X25519PublicKey.from_public_bytes(self.raw[_MLKEM768_PUBLIC_LEN:]),
        )


class PrivateKey:
    """A private encryption key; build one with `derive` (from a wallet) or `generate`."""

    __slots__ = ("_key", "public_key", "suite")

    def __init__(self, suite: Suite, material: bytes) -> None:
        self.suite = suite
        if suite is Suite.X25519:
            x_key = x25519.X25519PrivateKey.from_private_bytes(material[:_X25519_LEN])
            self._key: x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey = x_key
            raw = x_key.public_key().public_bytes_raw()
        else:
            ml_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(material[:_MLKEM_SEED_LEN])
            x_key = x25519.X25519PrivateKey.from_private_bytes(material[_MLKEM_SEED_LEN:])
            self._key = hpke.MLKEM768X25519PrivateKey(ml_key, x_key)
            raw = ml_key.public_key().public_bytes_raw() + x_key.public_key().public_bytes_raw()
        self.public_key = PublicKey(suite, raw)

    @staticmethod
    def material_length(suite: Suite) -> int:
        """How many bytes of seed a key of `suite` is derived from."""
        return _X25519_LEN if suite is Suite.X25519 else _MLKEM_SEED_LEN + _X25519_LEN

    @classmethod
    def derive(cls, wallet_key: bytes, suite: Suite = Suite.X25519, version: int = 1) -> PrivateKey:
        """The `version`-th encryption key of a wallet (HKDF-SHA256 of its private key)."""
        if version < 1:
            raise ValidationError("encryption key versions start at 1")
        material = HKDF(
            algorithm=hashes.SHA256(),
            length=cls.material_length(suite),
            salt=b"careledger",
            info=f"careledger/encryption-key/{suite.label}/v{version}".encode(),
        ).derive(wallet_key)
        return cls(suite, material)

    @classmethod
    def generate(cls, suite: Suite = Suite.X25519) -> PrivateKey:
        """A random key (for tests and throwaway recipients)."""
        return cls(suite, os.urandom(cls.material_length(suite)))

    def hpke_key(self) -> x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey:
        """The key as the HPKE library takes it."""
        return self._key
