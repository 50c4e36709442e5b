"""Envelope encryption: data under a fresh data key, the data key sealed to each reader.

```
plaintext ─AES-256-GCM(data key, random 96-bit nonce, AAD = record context)─► ciphertext
data key ─HPKE(recipient public key, info = label ‖ record context)─► sealed key, per reader
```

The record context (record id, version, patient, category) is bound twice: as the AEAD's
associated data and in the HPKE `info`, so neither the ciphertext nor a sealed key can be
replayed under another record. Sharing re-seals the data key to another reader's key
(`reseal`) without touching the ciphertext. Every failure to open, whatever its cause,
is one `DecryptionError`, and no plaintext is ever returned unauthenticated.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from careledger.crypto._canonical import canonical_json
from careledger.crypto._hpke_keys import PrivateKey, PublicKey, Suite
from careledger.errors import DecryptionError, ValidationError

_NONCE_LEN = 12
_KEY_LEN = 32
_FINGERPRINT_LEN = 16
_HPKE_LABEL = b"careledger/data-key/v1\x00"


@dataclass(frozen=True, slots=True)
class RecordContext:
    """What a ciphertext belongs to; bound into every encryption of it."""

    record_id: str
    version: int
    patient: str
    category: str

    def aad(self) -> bytes:
        """The associated data that binds a record version's ciphertext to its context."""
        return canonical_json(
            {"record": self.record_id, "version": self.version, "patient": self.patient, "category": self.category}
        )


@dataclass(frozen=True, slots=True)
class SealedKey:
    """A data key sealed to one recipient key: the suite, whose key, and the HPKE output."""

    suite: Suite
    recipient: bytes
    sealed: bytes

    def to_bytes(self) -> bytes:
        """The sealed data key as bytes: suite, recipient, encapsulated key, ciphertext."""
        return bytes([self.suite]) + self.recipient + self.sealed

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedKey:
        """A sealed data key from its bytes; `ValidationError` if malformed."""
        if len(data) <= 1 + _FINGERPRINT_LEN:
            raise DecryptionError("sealed key is truncated")
        try:
            suite = Suite(data[0])
        except ValueError:
            raise DecryptionError(f"sealed key has unknown suite id {data[0]}") from None
        return cls(suite, bytes(data[1 : 1 + _FINGERPRINT_LEN]), bytes(data[1 + _FINGERPRINT_LEN :]))


@dataclass(frozen=True, slots=True)
class Envelope:
    """Ciphertext (nonce ‖ AES-GCM output) and the data key sealed to each recipient."""

    ciphertext: bytes
    sealed_keys: tuple[SealedKey, ...]

    def sealed_for(self, key: PublicKey) -> SealedKey:
        """The data key as sealed to `key`, one of the recipients."""
        return sealed_to(self.sealed_keys, key)


def sealed_to(sealed_keys: Sequence[SealedKey], key: PublicKey) -> SealedKey:
    """The data key as sealed to `key`, among a version's sealed copies."""
    for sealed in sealed_keys:
        if sealed.recipient == key.fingerprint:
            return sealed
    raise DecryptionError("no data key is sealed to this key")


def seal(plaintext: bytes, context: RecordContext, recipients: Sequence[PublicKey]) -> Envelope:
    """Encrypt `plaintext` under a fresh data key sealed to every recipient."""
    if not recipients:
        raise ValidationError("an envelope needs at least one recipient")
    aad = context.aad()
    data_key = AESGCM.generate_key(bit_length=_KEY_LEN * 8)
    ciphertext = _encrypt(plaintext, aad, data_key)
    return Envelope(ciphertext, tuple(_seal_key(data_key, aad, key) for key in recipients))


def unseal(envelope: Envelope, context: RecordContext, key: PrivateKey, keys: DataKeyCache | None = None) -> bytes:
    """The plaintext, if `key` is a recipient and nothing was changed."""
    aad = context.aad()
    sealed = envelope.sealed_for(key.public_key)
    data_key = keys.open(sealed, aad, key) if keys is not None else _open_data_key(sealed, aad, key)
    return _decrypt(envelope.ciphertext, aad, data_key)


def decrypt(ciphertext: bytes, context: RecordContext, data_key: bytes) -> bytes:
    """Authenticated decryption of envelope ciphertext with an already opened data key."""
    return _decrypt(ciphertext, context.aad(), data_key)


def _encrypt(plaintext: bytes, aad: bytes, data_key: bytes) -> bytes:
    """nonce ‖ AES-256-GCM(plaintext, aad): the one ciphertext layout of the project."""
    nonce = os.urandom(_NONCE_LEN)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def _decrypt(ciphertext: bytes, aad: bytes, data_key: bytes) -> bytes:
    if len(ciphertext) < _NONCE_LEN + 16:
        raise DecryptionError("ciphertext is truncated")
    try:
        return AESGCM(data_key).decrypt(ciphertext[:_NONCE_LEN], ciphertext[_NONCE_LEN:], aad)
    except (InvalidTag, ValueError):
        raise DecryptionError("ciphertext does not decrypt: wrong key, or the data or its context changed") from None


def open_data_key(sealed: SealedKey, context: RecordContext, key: PrivateKey) -> bytes:
    """The data key inside `sealed`, opened with `key`."""
    return _open_data_key(sealed, context.aad(), key)


def _open_data_key(sealed: SealedKey, aad: bytes, key: PrivateKey) -> bytes:
    if sealed.suite is not key.suite:
        raise DecryptionError(f"data key is sealed for {sealed.suite.label}, the key is {key.suite.label}")
    if sealed.recipient != key.public_key.fingerprint:
        raise DecryptionError("data key is sealed to a different key")
    try:
        data_key = key.suite.hpke.decrypt(sealed.sealed, key.hpke_key(), info=_HPKE_LABEL + aad)
    except (InvalidTag, ValueError):
        raise DecryptionError("sealed data key does not open: wrong key, or it or its context changed") from None
    if len(data_key) != _KEY_LEN:
        raise DecryptionError("sealed data key has the wrong length")
    return data_key


class DataKeyCache:
    """Recently opened data keys, so a record read again skips the HPKE decapsulation.

    Opening a sealed key is a pure function of (sealed key, record context, private key);
    the cache remembers its result under exactly those inputs, so a changed sealed key or
    context misses and is opened (and refused) as before. It holds at most `size` keys in
    the memory of the process that holds the private key anyway.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._keys: OrderedDict[tuple[bytes, bytes, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, sealed: SealedKey, aad: bytes, key: PrivateKey) -> bytes:
        """A sealed data key opened with `key` (remembered: one HPKE open per version)."""
        slot = (sealed.to_bytes(), aad, key.public_key.fingerprint)
        with self._lock:
            data_key = self._keys.get(slot)
            if data_key is not None:
                self._keys.move_to_end(slot)
                return data_key
        data_key = _open_data_key(sealed, aad, key)
        with self._lock:
            self._keys[slot] = data_key
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
        return data_key


def reseal(sealed: SealedKey, context: RecordContext, key: PrivateKey, to: PublicKey) -> SealedKey:
    """Seal the data key in `sealed` (opened with our `key`) to another reader's key."""
    aad = context.aad()
    return _seal_key(_open_data_key(sealed, aad, key), aad, to)


def _seal_key(data_key: bytes, aad: bytes, to: PublicKey) -> SealedKey:
    sealed = to.suite.hpke.encrypt(data_key, to.hpke_key(), info=_HPKE_LABEL + aad)
    return SealedKey(to.suite, to.fingerprint, sealed)
