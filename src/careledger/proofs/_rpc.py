"""RecordAnchor read over plain JSON-RPC: `eth_chainId`, `eth_getCode`, `eth_call` and `eth_getLogs`, nothing else.

The calls are spelled by their Solidity-style signatures, exactly as `cast call` takes them (docs/proofs.md),
and encoded with eth-abi, so the verifier needs no contract artifact, no home and no node: only a URL. The
node builds the same reader over its own chain connection to name a proof's block and transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal, TypeVar

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress, HexStr
from eth_utils import to_checksum_address

from careledger.crypto import keccak
from careledger.errors import ChainUnavailable, ValidationError

if TYPE_CHECKING:
    from web3 import Web3

BATCH = "batch(bytes32)"
BATCH_RETURNS = "(bytes32,uint32,uint8,address,uint40)"
VERIFY = "verify(bytes32,bytes32[],bytes32)"
VERIFY_RETURNS = "bool"
ANCHORED_EVENT = "Anchored(bytes32,address,uint32,uint8)"
HAS_ROLE = "hasRole(bytes32,address)"
ANCHORER_ROLE = keccak(b"ANCHORER_ROLE")  # RecordAnchor's `ANCHORER_ROLE` constant
KIND_RECORDS = 1

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ChainBatch:
    """A batch as RecordAnchor's `batch` view returns it."""

    root: bytes
    leaf_count: int
    kind: int
    anchorer: str
    timestamp: int


def selector(signature: str) -> bytes:
    """The 4-byte function selector of `signature`: the first bytes of its keccak256, as `cast sig` prints."""
    return keccak(signature.encode())[:4]


class AnchorReader:
    """RecordAnchor at `contract`, read through `w3`."""

    def __init__(self, w3: Web3, contract: str) -> None:
        """`ValidationError` if `contract` is not an address (20 bytes of 0x-prefixed hex)."""
        self._w3 = w3
        self.contract = checked_address(contract)

    @classmethod
    def over_http(cls, url: str, contract: str) -> AnchorReader:
        """A reader of the contract at `contract` through the JSON-RPC endpoint at `url` (http or https)."""
        if not url.startswith(("http://", "https://")):
            raise ValidationError(f"the JSON-RPC URL is http:// or https://, not {url[:80]!r}")
        from web3 import HTTPProvider, Web3  # ~0.8 s: only for a command that reads the chain

        return cls(Web3(HTTPProvider(url, request_kwargs={"timeout": 30})), contract)

    def chain_id(self) -> int:
        """The id of the chain the endpoint serves."""
        return int(_asked(lambda: self._w3.eth.chain_id))

    def has_code(self) -> bool:
        """Whether any contract is at the address on this chain (none: a wrong address, or another chain)."""
        return bool(_asked(lambda: self._w3.eth.get_code(self.contract)))

    def is_anchorer(self, address: str) -> bool:
        """Whether `address` holds ANCHORER_ROLE on the contract now (the council revokes it from a removed node)."""
        answer = self._call(selector(HAS_ROLE) + encode(["bytes32", "address"], [ANCHORER_ROLE, address]))
        try:
            return bool(decode(["bool"], answer)[0])
        except DecodingError:
            return False

    def batch(self, root: bytes) -> ChainBatch | None:
        """The batch anchored under `root`, or None if none was (or no RecordAnchor is at the address)."""
        answer = self._call(selector(BATCH) + encode(["bytes32"], [root]))
        try:
            ((stored_root, leaf_count, kind, anchorer, timestamp),) = decode([BATCH_RETURNS], answer)
        except DecodingError:
            return None  # no code at the address answers an empty result
        if stored_root == bytes(32):
            return None
        return ChainBatch(bytes(stored_root), leaf_count, kind, to_checksum_address(anchorer), timestamp)

    def verify(self, root: bytes, siblings: Sequence[bytes], leaf: bytes) -> bool:
        """The contract's own answer: is `root` anchored, and does the path lead from `leaf` to it?"""
        arguments = encode(["bytes32", "bytes32[]", "bytes32"], [root, list(siblings), leaf])
        answer = self._call(selector(VERIFY) + arguments)
        try:
            return bool(decode([VERIFY_RETURNS], answer)[0])
        except DecodingError:
            return False

    def anchoring(self, root: bytes, near: int | None = None, *, widen: bool = True) -> tuple[int, str] | None:
        """The block and transaction of `root`'s `Anchored` event: looked for in block `near` first (the proof's
        word, or the node's record of its batch), then, if `widen`, in the whole chain; None if there is none."""
        topics = ["0x" + keccak(ANCHORED_EVENT.encode()).hex(), "0x" + root.hex()]
        ranges: list[tuple[int, int | Literal["latest"]]] = [(near, near)] if near is not None else []
        if widen:
            ranges.append((0, "latest"))
        for start, end in ranges:
            logs = _asked(
                partial(
                    self._w3.eth.get_logs,
                    {"address": self.contract, "topics": topics, "fromBlock": start, "toBlock": end},
                )
            )
            if logs:
                return int(logs[0]["blockNumber"]), "0x" + bytes(logs[0]["transactionHash"]).hex()
        return None

    def _call(self, data: bytes) -> bytes:
        return bytes(_asked(lambda: self._w3.eth.call({"to": self.contract, "data": HexStr("0x" + data.hex())})))


def checked_address(address: str) -> ChecksumAddress:
    """`address` checksummed; `ValidationError` if it is not 20 bytes of 0x-prefixed hex."""
    if not isinstance(address, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise ValidationError(f"an address is 0x and 40 hex digits, not {str(address)[:80]!r}")
    return to_checksum_address(address)


def _asked(ask: Callable[[], _T]) -> _T:
    """A JSON-RPC answer; `ChainUnavailable` if the endpoint cannot be reached or answers with an error."""
    from web3.exceptions import Web3Exception

    try:
        return ask()
    except (OSError, Web3Exception, ValueError) as exc:  # requests' errors are OSErrors
        raise ChainUnavailable(f"the JSON-RPC endpoint did not answer: {str(exc)[:200]}") from None
