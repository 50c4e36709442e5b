"""EIP-191 and EIP-712 signatures over eth-account: sign, and recover who signed.

eth-account is imported where a signature is made or checked (~0.15 s to import): a command
that signs nothing does not pay for it.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from eth_keys.exceptions import BadSignature
from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError

from careledger.crypto._keccak import keccak
from careledger.errors import InvalidSignature

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


# The order of secp256k1: r and s of a signature lie in [1, n).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX_SIGNATURE = re.compile(r"(0x)?[0-9a-fA-F]{130}")


def parse_signature(value: object) -> bytes:
    """A recoverable secp256k1 signature (r ‖ s ‖ v, 65 bytes) from the hex a wallet returns, v as 27 or 28.

    Every signature from outside comes through here before any curve arithmetic, so a malformed
    one (empty, 64 bytes, zero r or s, s ≥ n, a v that is no recovery id) is `InvalidSignature`
    (HTTP 401) with one message, never an exception from inside eth-keys. Wallets that write v
    as 0 or 1 (Ledger, some libraries) are accepted as 27 or 28.
    """
    if not isinstance(value, str) or not _HEX_SIGNATURE.fullmatch(value):
        raise InvalidSignature("a signature is 65 bytes of hex (r, s, v), as eth_signTypedData_v4 gives")
    return _checked(bytes.fromhex(value.removeprefix("0x")))


def _checked(signature: bytes) -> bytes:
    """`signature` with v as 27 or 28, if it is 65 bytes with r and s in range; else `InvalidSignature`."""
    if len(signature) != 65:
        raise InvalidSignature(f"a signature is 65 bytes, not {len(signature)}")
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N) or v not in (0, 1, 27, 28):
        raise InvalidSignature("the signature's r, s or v is out of range: no key made it")
    return signature if v >= 27 else signature[:64] + bytes([v + 27])


def sign_message(account: LocalAccount, message: bytes) -> bytes:
    """An EIP-191 (`personal_sign`) signature of `message`."""
    from eth_account.messages import encode_defunct

    return bytes(account.sign_message(encode_defunct(primitive=message)).signature)


def recover_message_signer(message: bytes, signature: bytes) -> str:
    """The address that signed `message` (EIP-191); `InvalidSignature` if the signature is malformed."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    signature = _checked(signature)
    try:
        return str(Account.recover_message(encode_defunct(primitive=message), signature=signature))
    except (ValueError, TypeError, KeyError, EthValidationError, BadSignature) as exc:
        raise InvalidSignature(f"malformed signature: {exc}") from None


def sign_typed_data(account: LocalAccount, typed_data: dict[str, Any]) -> bytes:
    """An EIP-712 signature of `typed_data` (`domain`, `types`, `primaryType`, `message`)."""
    from eth_account.messages import encode_typed_data

    return bytes(account.sign_message(encode_typed_data(full_message=typed_data)).signature)


def recover_typed_data_signer(typed_data: dict[str, Any], signature: bytes) -> str:
    """The address that signed `typed_data` (EIP-712); `InvalidSignature` if either is malformed."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signature = _checked(signature)
    try:
        return str(Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature))
    except (ValueError, TypeError, KeyError, IndexError, EthValidationError, BadSignature) as exc:
        raise InvalidSignature(f"malformed signature or typed data: {exc}") from None


def check_signer(expected: str, recovered: str) -> None:
    """Raise `InvalidSignature` unless the recovered signer is the expected address."""
    if expected.lower() != recovered.lower():
        raise InvalidSignature(f"signed by {recovered}, not by {expected}")


def recover_message_signers(messages: Sequence[tuple[bytes, bytes]]) -> list[str | None]:
    """`recover_message_signer` for many (message, signature) pairs: each signer's address, or None
    where the signature is malformed or recovers no key.

    Calls libsecp256k1 (coincurve) directly, the same EIP-191 recovery eth-account performs
    underneath, without its per-call objects: ~70 µs a signature against ~340 µs. The C call
    releases the GIL, so a large batch is split across one thread per core (1.8x on two).
    """
    if len(messages) < _PARALLEL_FROM:
        return _recover(messages)
    share = -(-len(messages) // _CORES)
    parts = [messages[start : start + share] for start in range(0, len(messages), share)]
    return [signer for part in _recovery_pool().map(_recover, parts) for signer in part]


_CORES = os.cpu_count() or 1
_PARALLEL_FROM = 64  # below this, handing work to threads costs more than it saves
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _recovery_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_CORES, thread_name_prefix="careledger-ecrecover")
        return _pool


def _recover(messages: Sequence[tuple[bytes, bytes]]) -> list[str | None]:
    from coincurve import PublicKey

    signers: list[str | None] = []
    for message, signature in messages:
        if len(signature) != 65 or signature[64] not in (27, 28):
            signers.append(None)
            continue
        digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)
        try:
            public = PublicKey.from_signature_and_message(signature[:64] + bytes([signature[64] - 27]), digest, None)
        except ValueError:
            signers.append(None)
            continue
        signers.append(checksum_address(keccak(public.format(compressed=False)[1:])[-20:]))
    return signers


@functools.lru_cache(maxsize=65_536)
def checksum_address(raw: bytes) -> str:
    """The EIP-55 form of a 20-byte address; remembered, since the same few addresses (a node's devices and
    patients) come back thousands of times a second and eth-utils spends ~100 µs on each."""
    return str(to_checksum_address(raw))
