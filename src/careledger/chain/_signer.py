"""Local signing with a nonce manager that pipelines transactions.

Keys never leave the process: transactions are signed here (eth-account, with coincurve
for speed) and sent raw. Sending many before waiting for any receipt is what makes a
node fast on a real chain, where a receipt takes a block; the nonce manager hands out
consecutive nonces so pipelined transactions never collide.
"""

from __future__ import annotations

import fcntl
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from eth_utils import to_checksum_address
from hexbytes import HexBytes

from careledger.errors import ChainError, TransactionReverted

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import Nonce, TxParams, Wei

    from careledger.chain._backends import Backend, Receipt

# Headroom over the estimate: pipelined transactions are estimated before the ones ahead
# of them are mined, so the state they run on can differ slightly.
_GAS_HEADROOM = 1.25
_DEFAULT_TIP = 1_000_000_000  # 1 gwei, when the node does not suggest one
# Transactions signed and sent per wave of a pipelined batch.
_WAVE = 200


@dataclass(frozen=True, slots=True)
class TxRequest:
    """What to send: a call (`to` set) or a deployment (`to` None); `gas` None = estimate."""

    data: bytes
    to: str | None = None
    value: int = 0
    gas: int | None = None


# How chains say a nonce was already used: anvil and geth (the second when another sender's transaction with it is
# still pending, as two `serve --workers` sending from the node wallet at one moment do), then eth-tester.
_STALE_NONCE = ("nonce too low", "replacement transaction underpriced", "invalid transaction nonce")
# How often a batch none of whose transactions was accepted is counted and sent again: the workers of one node
# may each move the wallet's nonce on between our count and our send.
_RESENDS = 5


class NonceManager:
    """Hands out consecutive nonces for one sender, starting from the chain's pending count.

    With `shared` (a lock file every process sending from this account opens: the workers of `serve --workers`
    on one home), a batch is counted and sent under an exclusive lock on it, the count read from the chain
    each time, so two processes never send one nonce twice; without it, this process is the only sender.
    """

    def __init__(self, backend: Backend, address: str, *, shared: Path | None = None) -> None:
        self._backend = backend
        self._address = address
        self._shared = shared
        self._next: int | None = None
        self._counted_at = 0
        self._lock = threading.Lock()

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Held while a batch is counted, signed and sent: alone among this account's processes if shared."""
        if self._shared is None:
            yield
            return
        descriptor = os.open(self._shared, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # one per open file: threads of this process wait too
            self.resync()  # another process may have sent since this one counted
            yield
        finally:
            os.close(descriptor)  # and with it the lock

    def reserve(self, count: int) -> int:
        """Reserve `count` nonces; the first one."""
        with self._lock:
            # A chain that came back may have lost its last blocks (anvil saves its state every
            # few seconds): after an outage the count is read again.
            recoveries = self._backend.recoveries
            if self._next is None or self._counted_at != recoveries:
                self._next = self._backend.w3.eth.get_transaction_count(to_checksum_address(self._address), "pending")
                self._counted_at = recoveries
            first = self._next
            self._next += count
            return first

    def resync(self) -> None:
        """Forget the local count: the next reservation reads it from the chain again."""
        with self._lock:
            self._next = None


class Signer:
    """Signs and sends transactions for one account on one chain."""

    def __init__(
        self, backend: Backend, account: LocalAccount, *, receipt_timeout: float = 120.0, shared: Path | None = None
    ) -> None:
        self.backend = backend
        self.account = account
        self.address: str = account.address
        self.nonces = NonceManager(backend, account.address, shared=shared)
        self.receipt_timeout = receipt_timeout
        self._chain_id = backend.w3.eth.chain_id

    def transact(self, request: TxRequest) -> Receipt:
        """Send one transaction and wait for it; raises `TransactionReverted` with the reason."""
        return self.send_many([request])[0]

    def send_many(self, requests: Sequence[TxRequest]) -> list[Receipt]:
        """Send all, then wait for all; raises on the first that reverted."""
        return self.wait(self.submit_many(requests), requests)

    def submit_many(self, requests: Sequence[TxRequest]) -> list[HexBytes]:
        """Estimate, sign and submit every request without waiting for receipts."""
        if not requests:
            return []
        params = [self._params(request) for request in requests]
        missing = [i for i, request in enumerate(requests) if request.gas is None]
        if missing:
            estimates = self.backend.estimate_gas_many([params[i] for i in missing])
            for i, estimate in zip(missing, estimates, strict=True):
                params[i]["gas"] = int(estimate * _GAS_HEADROOM) + 10_000
        with self.nonces.sending():
            return self._sign_and_send(params)

    def _sign_and_send(self, params: list[TxParams], *, resends: int = _RESENDS) -> list[HexBytes]:
        """Reserve nonces for `params`, sign and submit them; on a refusal, forget the local nonce count."""
        first = self.nonces.reserve(len(params))
        hashes: list[HexBytes] = []
        try:
            # In waves, each priced from the newest block, so fees follow a base fee
            # that the waves before have pushed up.
            for start in range(0, len(params), _WAVE):
                wave = params[start : start + _WAVE]
                fees = self._fees(sum(int(tx["gas"]) for tx in wave))
                raws = []
                for offset, tx in enumerate(wave, start):
                    tx.update(fees)
                    tx["nonce"] = cast("Nonce", first + offset)
                    tx["chainId"] = self._chain_id
                    raws.append(self.account.sign_transaction(dict(tx)).raw_transaction)  # type: ignore[arg-type]
                hashes.extend(self.backend.send_raw_many(raws))
        except ChainError as exc:
            # Some of the reserved nonces were never used; read the count again.
            self.nonces.resync()
            if hashes:  # part of the batch is on its way: sending it again would send it twice
                raise ChainError(f"{exc} (after {len(hashes)} of {len(params)} transactions were sent)") from exc
            if resends and any(stale in str(exc).lower() for stale in _STALE_NONCE):
                # Another process sending from this account (`serve` beside a CLI command on one
                # home, or another worker of `serve --workers`) moved its nonce on; none of ours was accepted:
                # count again, send again.
                return self._sign_and_send(params, resends=resends - 1)
            raise
        return hashes

    def wait(self, hashes: Sequence[HexBytes], requests: Sequence[TxRequest]) -> list[Receipt]:
        """Receipts for `hashes`; a failed one is replayed to report why it reverted."""
        receipts = self.backend.receipts(hashes, self.receipt_timeout)
        for receipt, request in zip(receipts, requests, strict=True):
            if receipt.status != 1:
                raise self._why_failed(receipt, request)
        return receipts

    def _params(self, request: TxRequest) -> TxParams:
        tx: TxParams = {"from": self.address, "data": request.data, "value": cast("Wei", request.value)}
        if request.to is not None:
            tx["to"] = to_checksum_address(request.to)
        if request.gas is not None:
            tx["gas"] = request.gas
        return tx

    def _fees(self, batch_gas: int) -> TxParams:
        """EIP-1559 fees for a batch, or a legacy gas price on chains without a base fee.

        The fee cap must survive the base fee rising 12.5 % for every full block the
        batch itself fills (and one more for other traffic), or the tail of a large
        pipelined batch would be priced out and dropped. The cap is only a cap: each
        transaction pays the base fee of its block plus the tip.
        """
        w3 = self.backend.w3
        latest = w3.eth.get_block("latest")
        base_fee = latest.get("baseFeePerGas")
        if base_fee is None:
            return {"gasPrice": w3.eth.gas_price}
        try:
            tip = int(w3.eth.max_priority_fee)
        except (ValueError, ChainError):
            tip = _DEFAULT_TIP
        full_blocks = -(-batch_gas // max(1, int(latest["gasLimit"])))
        cap = max(2 * int(base_fee), math.ceil(int(base_fee) * 1.125 ** (full_blocks + 1))) + tip
        return {"maxFeePerGas": cast("Wei", cap), "maxPriorityFeePerGas": cast("Wei", tip)}

    def _why_failed(self, receipt: Receipt, request: TxRequest) -> ChainError:
        tx_hash = receipt.tx_hash.to_0x_hex()
        replay = self._params(request)
        replay["gas"] = receipt.gas_used * 2 + 100_000
        try:
            self.backend.call_at(replay, receipt.block - 1)
        except TransactionReverted as exc:
            return TransactionReverted(exc.reason, tx_hash=tx_hash)
        return TransactionReverted("ran out of gas or failed for a reason the replay cannot show", tx_hash=tx_hash)
