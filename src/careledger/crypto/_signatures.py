"""EIP-191 and EIP-712 signatures over eth-account: sign, and recover who signed.

eth-account is imported where a signature is made or checked (~0.15 s to import): a command
that signs nothing does not pay for it.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError

from careledger.crypto._keccak import keccak
from careledger.errors import IntegrityError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


def sign_message(account: LocalAccount, message: bytes) -> bytes:
    """An EIP-191 (`personal_sign`) signature of `message`."""
    from eth_account.messages import encode_defunct

    return bytes(account.sign_message(encode_defunct(primitive=message)).signature)


def recover_message_signer(message: bytes, signature: bytes) -> str:
    """The address that signed `message` (EIP-191)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        return str(Account.recover_message(encode_defunct(primitive=message), signature=signature))
    except (ValueError, TypeError, KeyError, EthValidationError) as exc:
        raise IntegrityError(f"malformed signature: {exc}") from None


def sign_typed_data(account: LocalAccount, typed_data: dict[str, Any]) -> bytes:
    """An EIP-712 signature of `typed_data` (`domain`, `types`, `primaryType`, `message`)."""
    from eth_account.messages import encode_typed_data

    return bytes(account.sign_message(encode_typed_data(full_message=typed_data)).signature)


def recover_typed_data_signer(typed_data: dict[str, Any], signature: bytes) -> str:
    """The address that signed `typed_data` (EIP-712)."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    try:
        return str(Account.recover_message(encode_typed_data(full_message=typed_data), signature=signature))
    except (ValueError, TypeError, KeyError, EthValidationError) as exc:
        raise IntegrityError(f"malformed signature or typed data: {exc}") from None


def check_signer(expected: str, recovered: str) -> None:
    """Raise `IntegrityError` unless the recovered signer is the expected address."""
    if expected.lower() != recovered.lower():
        raise IntegrityError(f"signed by {recovered}, not by {expected}")


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
