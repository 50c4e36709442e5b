"""Data the node alone reads back, sealed under one of its own keys (the audit log's text).

Records are sealed to their readers' HPKE keys (`seal`); what only the node itself ever
reads needs no key exchange, just the same AES-256-GCM under a secret kept out of the
database, so a copied database file shows nothing of it. The caller binds each ciphertext
to where it is stored (its `aad`), so a sealed value moved to another row does not open.
"""

from __future__ import annotations

from careledger.crypto._envelope import _KEY_LEN, _decrypt, _encrypt
from careledger.errors import IntegrityError


class AtRestKey:
    """Seals and opens values with one node-local AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_LEN:
            raise IntegrityError(f"an at-rest key is {_KEY_LEN} bytes, not {len(key)}")
        self._key = key

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """`plaintext` sealed with AES-256-GCM, bound to `aad`: nonce ‖ ciphertext."""
        return _encrypt(plaintext, aad, self._key)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """The plaintext, or `DecryptionError` if the key, the value or its `aad` differ."""
        return _decrypt(sealed, aad, self._key)
