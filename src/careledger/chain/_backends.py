"""How a node reaches its chain: in process (memory), a managed anvil child, or any RPC URL.

Every backend offers the same few bulk operations the signer needs. The base class does
them one request at a time through web3 (right for the in-process chain, where a request
costs a function call); `HttpBackend` sends them as JSON-RPC batches, so a thousand
transactions cost a handful of HTTP round trips.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import requests
from eth_typing import URI
from eth_utils import to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.datastructures import AttributeDict
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import BlockIdentifier, LogReceipt, RPCEndpoint, RPCResponse, TxParams, TxReceipt, Wei

from careledger.chain._outage import Outage
from careledger.chain._revert import decode_revert, reason_from_message
from careledger.errors import ChainError, ChainUnavailable, ConfigError, TransactionReverted


@dataclass(frozen=True, slots=True)
class Receipt:
    """The part of a transaction receipt the node uses, the same from every backend."""

    tx_hash: HexBytes
    status: int
    block: int
    gas_used: int
    contract_address: str | None
    logs: tuple[LogReceipt, ...]

    @classmethod
    def from_web3(cls, receipt: TxReceipt) -> Receipt:
        """A receipt from web3's receipt mapping."""
        return cls(
            tx_hash=HexBytes(receipt["transactionHash"]),
            status=int(receipt["status"]),
            block=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            contract_address=receipt.get("contractAddress"),
            logs=tuple(receipt["logs"]),
        )

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> Receipt:
        """From the JSON-RPC form, without web3's (slow, per-field) result formatters."""
        contract = raw.get("contractAddress")
        return cls(
            tx_hash=HexBytes(raw["transactionHash"]),
            status=int(raw["status"], 16),
            block=int(raw["blockNumber"], 16),
            gas_used=int(raw["gasUsed"], 16),
            contract_address=to_checksum_address(contract) if contract else None,
            logs=tuple(_log_from_rpc(log) for log in raw.get("logs", [])),
        )


# The gas limit the memory chain gives every transaction (its blocks hold 30 M).
_MEMORY_GAS = 5_000_000

# Requests per JSON-RPC batch: well under anvil's and geth's limits (1,000 by default).
_BATCH = 500

_Reply = TypeVar("_Reply")


@contextmanager
def revert_reasons() -> Iterator[None]:
    """Turn web3's and eth-tester's revert exceptions into `TransactionReverted` with the reason."""
    try:
        yield
    except ContractLogicError as exc:
        raise TransactionReverted(_reason_of(exc)) from None
    except Exception as exc:
        # eth-tester (the optional memory chain) is looked for only once something loaded it.
        tester = sys.modules.get("eth_tester.exceptions")
        if tester is not None and isinstance(exc, tester.TransactionFailed):
            raise TransactionReverted(reason_from_message(str(exc.args[0]))) from None
        raise


class Backend:
    """A connection to one chain, with bulk operations done one by one."""

    kind: str = "memory"

    def __init__(self, w3: Web3, url: str | None = None) -> None:
        self.w3 = w3
        self.url = url

    @property
    def development(self) -> bool:
        """True where accounts can be funded out of thin air."""
        return True

    @property
    def recoveries(self) -> int:
        """How many times the chain came back after it stopped answering (never, in process)."""
        return 0

    def estimate_gas_many(self, txs: Sequence[TxParams]) -> list[int]:
        """Gas for each transaction; raises `TransactionReverted` for the first that reverts."""
        return [self._estimate_one(tx) for tx in txs]

    def _estimate_one(self, tx: TxParams) -> int:
        with revert_reasons():
            return int(self.w3.eth.estimate_gas(tx))

    def send_raw_many(self, raws: Sequence[bytes]) -> list[HexBytes]:
        """Submit signed transactions in order; their hashes."""
        try:
            return [HexBytes(self.w3.eth.send_raw_transaction(raw)) for raw in raws]
        except (Web3RPCError, ValueError, EthValidationError) as exc:
            raise ChainError(f"the chain refused a transaction: {exc}") from None

    def receipts(self, hashes: Sequence[HexBytes], timeout: float) -> list[Receipt]:
        """Receipts of mined transactions, waiting up to `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        found: list[Receipt] = []
        for tx_hash in hashes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                found.append(Receipt.from_web3(self.w3.eth.wait_for_transaction_receipt(tx_hash, remaining, 0.05)))
            except TimeExhausted:
                raise ChainError(f"transaction {tx_hash.to_0x_hex()} not mined within {timeout:.0f} s") from None
        return found

    def call_at(self, tx: TxParams, block: BlockIdentifier) -> None:
        """Replay `tx` as a call at `block`; raises `TransactionReverted` if it reverts there."""
        with revert_reasons():
            self.w3.eth.call(tx, block)

    def call_many(self, txs: Sequence[TxParams]) -> list[bytes]:
        """What each call returns at the latest block; raises `TransactionReverted` for the first that reverts."""
        with revert_reasons():
            return [bytes(self.w3.eth.call(tx)) for tx in txs]

    def fund(self, address: str, wei: int) -> None:
        """Give `address` at least `wei`; only development chains can do this."""
        raise ChainError(
            f"account {address} has too little ether on this chain to pay for gas; "
            f"send it at least {wei / 10**18:g} ether from an account that has some"
        )

    def close(self) -> None:
        """Release what the backend holds (a child process, a lock)."""


class MemoryBackend(Backend):
    """eth-tester on py-evm, in this process: fast, ephemeral, for tests."""

    kind = "memory"

    def __init__(self) -> None:
        # Imported here: py-evm takes ~0.6 s to import and is an optional extra.
        try:
            from eth_tester import EthereumTester, PyEVMBackend
        except ImportError:
            raise ConfigError("the memory chain needs py-evm: pip install 'careledger[memory]'") from None
        from web3 import EthereumTesterProvider

        provider = EthereumTesterProvider(EthereumTester(PyEVMBackend()))
        # eth-tester is not thread-safe, and a serving node's background thread (anchoring,
        # consent sync) shares it with the requests' threads: one request at a time.
        lock = threading.RLock()
        request = provider.make_request

        def one_at_a_time(method: RPCEndpoint, params: Any) -> RPCResponse:
            with lock:
                return request(method, params)

        provider.make_request = one_at_a_time  # type: ignore[method-assign]
        super().__init__(Web3(provider))

    def estimate_gas_many(self, txs: Sequence[TxParams]) -> list[int]:
        """Gas for each transaction: a generous fixed limit, after one call for the revert reason.

        py-evm estimates by binary search, a dozen executions per transaction; on this
        throwaway chain one call and a generous limit will do.
        """
        for tx in txs:
            self.call_at({**tx, "gas": _MEMORY_GAS}, "latest")
        return [_MEMORY_GAS for _ in txs]

    def fund(self, address: str, wei: int) -> None:
        """Give `address` `wei` wei (a development chain only)."""
        faucet = self.w3.eth.accounts[0]
        tx_hash = self.w3.eth.send_transaction({"from": faucet, "to": to_checksum_address(address), "value": Wei(wei)})
        self.w3.eth.wait_for_transaction_receipt(tx_hash)


class _GuardedHTTPProvider(HTTPProvider):
    """An HTTPProvider whose every request goes through its backend's guard (`HttpBackend.guarded`)."""

    def __init__(self, url: str, backend: HttpBackend) -> None:
        # No retries here: a request to a dead chain fails at once, and the backend's outage
        # decides when to try again (`chain/_outage.py`).
        super().__init__(url, exception_retry_configuration=None, request_kwargs={"timeout": 60})
        self._backend = backend
        self._chain_id: RPCResponse | None = None

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        # web3's validation asks the chain id before every eth_call and estimate (two extra
        # round trips per call); an endpoint's chain id does not change, so it is asked once,
        # and the answer kept here rather than in web3's cache, where an answer from the cache
        # would pass for the chain answering again during an outage.
        if method == "eth_chainId" and self._chain_id is not None:
            return self._chain_id
        reply = self._backend.guarded(partial(super().make_request, method, params))
        if method == "eth_chainId" and "result" in reply:
            self._chain_id = reply
        return reply

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        return self._backend.guarded(partial(super().make_batch_request, batch_requests))


class HttpBackend(Backend):
    """Any JSON-RPC endpoint over HTTP, with bulk operations sent as batches."""

    kind = "rpc"

    def __init__(self, url: str) -> None:
        self.outage = Outage()
        super().__init__(Web3(_GuardedHTTPProvider(url, self)), url)
        self._anvil: bool | None = None

    @property
    def recoveries(self) -> int:
        """How many times the chain came back after it stopped answering."""
        return self.outage.recoveries

    def guarded(self, send: Callable[[], _Reply]) -> _Reply:
        """Send one request through the outage: refused at once while the chain is down and no retry is
        due; a retry reconnects first; a refused connection becomes one clear `ChainUnavailable`."""
        retry = self.outage.admit()
        try:
            if retry:
                self._reconnect()
            reply = send()
        except requests.ConnectionError as exc:
            raise self.outage.failed(self._unreachable(exc), retry=retry) from None
        except ChainUnavailable as exc:
            raise self.outage.failed(exc, retry=retry) from None
        finally:
            if retry:
                self.outage.settle()
        self.outage.answered(self.url)
        return reply

    def _reconnect(self) -> None:
        """Before a retry after an outage: an RPC endpoint is tried again at the same URL."""

    def _switch(self, url: str) -> None:
        """Send requests to `url` from now on (a restarted chain's new address)."""
        self.url = url
        cast("HTTPProvider", self.w3.provider).endpoint_uri = URI(url)

    @property
    def development(self) -> bool:
        """An RPC endpoint that is an anvil (a local development chain, another home's say) funds accounts."""
        if self._anvil is None:
            self._anvil = str(self.w3.client_version).lower().startswith("anvil")
        return self._anvil

    def fund(self, address: str, wei: int) -> None:
        """Give `address` `wei` wei with anvil's `anvil_setBalance` (a development chain only)."""
        if not self.development:
            super().fund(address, wei)
            return
        self.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(wei)])

    def _unreachable(self, exc: Exception) -> ChainUnavailable:
        """The error for a connection the chain refused, saying what is known of why."""
        return ChainUnavailable(f"cannot reach the chain at {self.url}: {type(exc).__name__}")

    def _batch(self, method: str, params: Sequence[list[Any]]) -> list[RPCResponse]:
        provider = cast("HTTPProvider", self.w3.provider)
        replies: list[RPCResponse] = []
        for start in range(0, len(params), _BATCH):
            chunk = [(RPCEndpoint(method), p) for p in params[start : start + _BATCH]]
            reply = provider.make_batch_request(chunk)
            if not isinstance(reply, list):  # the whole batch was refused
                raise ChainError(f"the chain refused a batch of {method}: {reply.get('error')}")
            replies.extend(sorted(reply, key=lambda r: int(r.get("id") or 0)))
        return replies

    def estimate_gas_many(self, txs: Sequence[TxParams]) -> list[int]:
        """Gas for each transaction, estimated in one JSON-RPC batch."""
        replies = self._batch("eth_estimateGas", [[_to_rpc(tx)] for tx in txs])
        gases: list[int] = []
        for reply in replies:
            error = reply.get("error")
            if error:
                raise TransactionReverted(_reason_of_rpc(dict(error)))
            gases.append(int(reply["result"], 16))
        return gases

    def call_many(self, txs: Sequence[TxParams]) -> list[bytes]:
        """What each call returns at the latest block, asked in one JSON-RPC batch."""
        replies = self._batch("eth_call", [[_to_rpc(tx), "latest"] for tx in txs])
        for reply in replies:
            error = reply.get("error")
            if error:
                raise TransactionReverted(_reason_of_rpc(dict(error)))
        return [bytes(HexBytes(reply["result"])) for reply in replies]

    def send_raw_many(self, raws: Sequence[bytes]) -> list[HexBytes]:
        """Send signed transactions in one JSON-RPC batch; their hashes."""
        replies = self._batch("eth_sendRawTransaction", [["0x" + bytes(raw).hex()] for raw in raws])
        for reply in replies:
            error = reply.get("error")
            if error:
                raise ChainError(f"the chain refused a transaction: {dict(error).get('message')}")
        return [HexBytes(reply["result"]) for reply in replies]

    def receipts(self, hashes: Sequence[HexBytes], timeout: float) -> list[Receipt]:
        """The receipts of these transactions, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        found: dict[HexBytes, Receipt] = {}
        pending = list(hashes)
        delay = 0.01
        waited = 0.0
        while True:
            replies = self._batch("eth_getTransactionReceipt", [[h.to_0x_hex()] for h in pending])
            for tx_hash, reply in zip(pending, replies, strict=True):
                if reply.get("result"):
                    found[tx_hash] = Receipt.from_rpc(dict(reply["result"]))
            pending = [h for h in pending if h not in found]
            if not pending:
                return [found[h] for h in hashes]
            if time.monotonic() > deadline:
                raise ChainError(f"{len(pending)} transactions not mined within {timeout:.0f} s")
            self._still_pending(waited)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.5)

    def _still_pending(self, waited: float) -> None:
        """Called while receipts are missing, with the seconds waited so far."""


def _to_rpc(tx: TxParams) -> dict[str, Any]:
    """A transaction dict in JSON-RPC form (hex quantities)."""
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if isinstance(value, int):
            out[key] = hex(value)
        elif isinstance(value, bytes):
            out[key] = "0x" + value.hex()
        else:
            out[key] = value
    return out


def _log_from_rpc(raw: dict[str, Any]) -> LogReceipt:
    """A log in the shape web3's event decoders expect."""
    return cast(
        "LogReceipt",
        AttributeDict(
            {
                "address": to_checksum_address(raw["address"]),
                "topics": [HexBytes(topic) for topic in raw["topics"]],
                "data": HexBytes(raw["data"]),
                "blockNumber": int(raw["blockNumber"], 16),
                "blockHash": HexBytes(raw["blockHash"]),
                "transactionHash": HexBytes(raw["transactionHash"]),
                "transactionIndex": int(raw["transactionIndex"], 16),
                "logIndex": int(raw["logIndex"], 16),
                "removed": bool(raw.get("removed", False)),
            }
        ),
    )


def _reason_of(exc: ContractLogicError) -> str:
    if exc.data and isinstance(exc.data, str) and exc.data.startswith("0x"):
        return decode_revert(exc.data)
    return reason_from_message(str(exc.message or exc))


def _reason_of_rpc(error: dict[str, Any]) -> str:
    data = error.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) > 2:
        return decode_revert(data)
    return reason_from_message(str(error.get("message", "reverted")))
