"""The base of the typed Python faces of the contracts, so no service builds a raw transaction.

Each facade wraps one deployed contract: reads are plain method calls, writes go through
a `Signer` and come back as typed values decoded from the receipt's events.
`*_request` variants return the `TxRequest` instead, for callers that pipeline many.
A facade whose contract refuses with its own `prefix: …` reasons says which error each is
(`_refusal`, used by `_refusals`/`_send`); one that reads its logs by topic does so in
spans from its deployment block (`_logs`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes

from careledger.chain._signer import Signer, TxRequest
from careledger.contracts import load_artifact
from careledger.errors import AccessDenied, CareLedgerError, TransactionReverted, ValidationError

if TYPE_CHECKING:
    # web3 takes ~0.8 s to import: what only annotates is imported for the type checker alone.
    from web3.contract import Contract
    from web3.types import LogReceipt

    from careledger.chain._backends import Receipt
    from careledger.chain._chain import Chain


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One decoded contract event."""

    name: str
    args: dict[str, Any]
    block: int
    tx_hash: str
    log_index: int


class ContractFacade:
    """Shared plumbing: the web3 contract object, calls, and sending through the signer."""

    contract_name: ClassVar[str]
    log_span: ClassVar[int] = 2_000
    """Blocks per eth_getLogs request `_logs` makes, inside public RPCs' limits (as indexing.EventReader reads)."""

    def __init__(self, chain: Chain, address: str, signer: Signer | None = None, *, first_block: int = 0) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.signer = signer
        self.first_block = first_block
        """The block the contract was deployed in (its deployment record's): `_logs` reads none older."""
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=load_artifact(self.contract_name).abi)
        self._event_by_topic = {
            HexBytes(event_abi_to_log_topic(item)): item["name"]
            for item in self.contract.abi
            if item["type"] == "event"
        }

    def _call(self, function: str, *args: Any) -> Any:
        from web3.exceptions import MismatchedABI

        from careledger.chain._backends import revert_reasons  # loaded with the chain it talks to

        with revert_reasons():
            try:
                return self.contract.functions[function](*args).call()
            except MismatchedABI:  # web3's word for an argument the ABI type cannot hold (-1 for a uint)
                raise _out_of_range(self.contract_name, function, args) from None

    def _call_many(self, function: str, calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """`function` called once with each of `calls`' arguments, asked in one JSON-RPC batch where the chain takes
        batches: each answer as `_call` gives it (a single output unwrapped)."""
        from eth_abi import decode

        requests = [self._request(function, *args) for args in calls]
        replies = self.chain.backend.call_many([{"to": self.address, "data": r.data} for r in requests])
        types = _outputs(self.contract_name)[function]
        answers = [decode(types, reply) for reply in replies]
        return [answer[0] for answer in answers] if len(types) == 1 else [tuple(answer) for answer in answers]

    def _request(self, function: str, *args: Any) -> TxRequest:
        selector, types = _encoders(self.contract_name)[function]
        from eth_abi import encode  # its grammar takes ~60 ms to build: paid by the first transaction
        from eth_abi.exceptions import EncodingError

        try:
            return TxRequest(to=self.address, data=selector + encode(types, args))
        except EncodingError:
            raise _out_of_range(self.contract_name, function, args) from None

    def _transact(self, request: TxRequest) -> Receipt:
        return self._writer().transact(request)

    def _send(self, function: str, *args: Any) -> Receipt:
        """Call `function` in a transaction, its refusals as the errors faces map (`_refusals`)."""
        with self._refusals():
            return self._transact(self._request(function, *args))

    @contextmanager
    def _refusals(self) -> Iterator[None]:
        """The contract's refusals as the `careledger.errors` faces map (what `_refusal` makes of each reason); any
        other revert (out of gas, no reason, a token's own) stays the chain's error, with its transaction."""
        try:
            yield
        except TransactionReverted as exc:
            error = self._refusal(exc.reason)
            if error is None:
                raise
            raise error from exc

    def _refusal(self, reason: str) -> CareLedgerError | None:  # noqa: ARG002 - what facades with refusals override
        """The error a revert reason is, or None to keep the chain's own: a facade of a contract with its own
        refusals says."""
        return None

    def _logs(self, topics: Sequence[str | None], from_block: int = 0, to_block: int | None = None) -> list[ChainEvent]:
        """This contract's logs matching `topics` (0x strings, None for any) in blocks `from_block`..`to_block`
        (default: the latest), never before `first_block`, `log_span` blocks a request, oldest first."""
        last = self.chain.block_number() if to_block is None else to_block
        found: list[ChainEvent] = []
        for start in range(max(from_block, self.first_block), last + 1, self.log_span):
            # Topics as 0x strings: eth-tester matches nothing given bytes.
            end = min(start + self.log_span - 1, last)
            logs = self.chain.w3.eth.get_logs(
                {"address": self.address, "fromBlock": start, "toBlock": end, "topics": list(topics)}
            )
            found += (e for log in logs if (e := self.decode(log)) is not None)
        return sorted(found, key=lambda e: (e.block, e.log_index))

    def _topic(self, event: str) -> str:
        """The topic (0x string) of this contract's event `event`."""
        abi = next(item for item in self.contract.abi if item["type"] == "event" and item["name"] == event)
        return HexBytes(event_abi_to_log_topic(abi)).to_0x_hex()

    def _send_many(self, requests: Sequence[TxRequest]) -> list[Receipt]:
        """Send all, then wait for all (pipelined on one nonce sequence)."""
        return self._writer().send_many(requests)

    def _writer(self) -> Signer:
        if self.signer is None:
            raise AccessDenied(f"{self.contract_name} was opened read-only; this needs the node wallet")
        return self.signer

    def decode(self, log: LogReceipt) -> ChainEvent | None:
        """The event `log` holds, if this contract emitted it."""
        if log["address"] != self.address or not log["topics"]:
            return None
        name = self._event_by_topic.get(HexBytes(log["topics"][0]))
        if name is None:
            return None
        decoded = self.contract.events[name]().process_log(log)
        return ChainEvent(
            name=name,
            args=dict(decoded["args"]),
            block=int(log["blockNumber"]),
            tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
        )

    def events_in(self, receipt: Receipt, name: str) -> list[ChainEvent]:
        """The `name` events this contract emitted in one transaction."""
        return [e for log in receipt.logs if (e := self.decode(log)) is not None and e.name == name]


def _out_of_range(contract: str, function: str, args: tuple[Any, ...]) -> ValidationError:
    shown = ", ".join(repr(a)[:40] for a in args)
    return ValidationError(f"{contract}.{function} cannot take ({shown}): a value is out of its type's range")


@cache
def _outputs(contract_name: str) -> dict[str, list[str]]:
    """Each view function's output types (a struct as one tuple type), for decoding batched calls' answers."""
    from eth_utils.abi import collapse_if_tuple

    return {
        item["name"]: [collapse_if_tuple(output) for output in item["outputs"]]
        for item in load_artifact(contract_name).abi
        if item["type"] == "function"
    }


@cache
def _encoders(contract_name: str) -> dict[str, tuple[bytes, list[str]]]:
    """Selector and argument types per function, worked out once per contract.

    web3's `encode_abi` looks the function up in the ABI on every call, which made
    encoding cost as much as signing in a pipelined batch; facades pass arguments of the
    right Python types, so plain eth-abi encoding is enough.
    """
    encoders: dict[str, tuple[bytes, list[str]]] = {}
    for item in load_artifact(contract_name).abi:
        if item["type"] == "function":
            types = [arg["type"] for arg in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            encoders[item["name"]] = (function_signature_to_4byte_selector(signature), types)
    return encoders
