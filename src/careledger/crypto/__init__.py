"""Keys and cryptography: only well-kept libraries underneath, misuse made hard on top."""

from careledger.crypto._keystore import LIGHT_SCRYPT_N, keystore_address, load_keystore, new_keystore
from careledger.crypto._merkle import MerkleTree, hash_pair, process_proof, verify_proof

__all__ = [
    "LIGHT_SCRYPT_N",
    "MerkleTree",
    "hash_pair",
    "keystore_address",
    "load_keystore",
    "new_keystore",
    "process_proof",
    "verify_proof",
]
