"""Keys and cryptography: only well-kept libraries underneath, misuse made hard on top."""

from careledger.crypto._keystore import LIGHT_SCRYPT_N, keystore_address, load_keystore, new_keystore

__all__ = ["LIGHT_SCRYPT_N", "keystore_address", "load_keystore", "new_keystore"]
