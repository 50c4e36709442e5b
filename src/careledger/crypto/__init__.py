"""Keys and cryptography: only well-kept libraries underneath, misuse made hard on top.

Public surface: HPKE encryption keys in two suites, the
data envelope (`seal`, `unseal`, `reseal`), content ids, canonical JSON, Merkle trees,
EIP-191/EIP-712 signatures, and EIP-712 structs declared once (`Struct`, `Signed`). Nonces,
AADs and HPKE parameters stay inside.
"""

from careledger.crypto._at_rest import AtRestKey
from careledger.crypto._canonical import canonical_json
from careledger.crypto._cid import check_content_id, content_id, is_content_id, parse_content_id
from careledger.crypto._eip712 import typed_data
from careledger.crypto._envelope import (
    DataKeyCache,
    Envelope,
    RecordContext,
    SealedKey,
    decrypt,
    open_data_key,
    reseal,
    seal,
    sealed_to,
    unseal,
)
from careledger.crypto._hpke_keys import PrivateKey, PublicKey, Suite
from careledger.crypto._keccak import keccak
from careledger.crypto._merkle import MerkleTree, hash_pair, process_proof, verify_proof
from careledger.crypto._signatures import (
    check_signer,
    checksum_address,
    parse_signature,
    recover_message_signer,
    recover_message_signers,
    recover_typed_data_signer,
    sign_message,
    sign_typed_data,
)
from careledger.crypto._typed import (
    Address,
    Bool,
    Bytes32,
    HashedJson,
    JsonKey,
    Nonce,
    Signed,
    String,
    Struct,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Uint256,
)

__all__ = [
    "Address",
    "AtRestKey",
    "Bool",
    "Bytes32",
    "DataKeyCache",
    "Envelope",
    "HashedJson",
    "JsonKey",
    "MerkleTree",
    "Nonce",
    "PrivateKey",
    "PublicKey",
    "RecordContext",
    "SealedKey",
    "Signed",
    "String",
    "Struct",
    "Suite",
    "Uint8",
    "Uint16",
    "Uint32",
    "Uint64",
    "Uint256",
    "canonical_json",
    "check_content_id",
    "check_signer",
    "checksum_address",
    "content_id",
    "decrypt",
    "hash_pair",
    "is_content_id",
    "keccak",
    "open_data_key",
    "parse_content_id",
    "parse_signature",
    "process_proof",
    "recover_message_signer",
    "recover_message_signers",
    "recover_typed_data_signer",
    "reseal",
    "seal",
    "sealed_to",
    "sign_message",
    "sign_typed_data",
    "typed_data",
    "unseal",
    "verify_proof",
]
