"""`Chain`: one object for whichever chain a node uses, and `open_chain` to get one."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address
from web3 import Web3

from careledger.chain._anvil import AnvilProcess, ChainDir, Endpoint, find_anvil
from careledger.chain._anvil_backend import AnvilBackend
from careledger.chain._backends import Backend, HttpBackend, MemoryBackend
from careledger.chain._signer import Signer
from careledger.errors import ConfigError, Conflict

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

# What a development chain tops an account up to, and the level that triggers it.
_DEV_FUNDS = 10_000 * 10**18
_DEV_LOW_WATER = 100 * 10**18


class Chain:
    """A connected chain: web3, its id, and signers for local accounts."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.w3: Web3 = backend.w3
        self.chain_id: int = self.w3.eth.chain_id

    @property
    def kind(self) -> str:
        """`memory`, `anvil` or `rpc`."""
        return self.backend.kind

    @property
    def url(self) -> str | None:
        """The JSON-RPC URL, or None for the in-memory chain."""
        return self.backend.url

    @property
    def is_development(self) -> bool:
        """True where accounts can be funded out of thin air (memory, anvil, an anvil's URL)."""
        return self.backend.development

    def block_number(self) -> int:
        """The latest block's number."""
        return int(self.w3.eth.block_number)

    def timestamp(self, block: int | None = None) -> int:
        """The time of block `block` (default: the latest): what contracts compare expiries against, not this
        machine's clock."""
        return int(self.w3.eth.get_block("latest" if block is None else block)["timestamp"])

    def transaction_count(self, address: str) -> int:
        """How many transactions `address` has sent (its next nonce)."""
        return int(self.w3.eth.get_transaction_count(to_checksum_address(address)))

    def balance(self, address: str) -> int:
        """`address`'s balance in wei."""
        return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def signer(self, account: LocalAccount, *, shared: Path | None = None) -> Signer:
        """A signer for `account` (`shared`: the lock file of every process sending from it); on a development
        chain it is funded first if low."""
        if self.is_development and self.balance(account.address) < _DEV_LOW_WATER:
            self.backend.fund(account.address, _DEV_FUNDS)
        return Signer(self.backend, account, shared=shared)

    def close(self) -> None:
        """Stop using the chain (and the anvil this process started)."""
        self.backend.close()

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_chain(
    spec: str,
    *,
    chain_dir: Path | None = None,
    anvil_bin: Path | None = None,
    anvil_chain_id: int = 31337,
    state_interval: int = 2,
    keep: bool = False,
    lock_timeout: float = 60.0,
) -> Chain:
    """Connect to `spec`: `memory`, `anvil` (the home's managed chain) or a JSON-RPC URL.

    With `keep`, the caller means to keep the managed chain running for others (`chain
    up`, `serve`): it refuses if one already runs, and records its address in the home.
    """
    if spec == "memory":
        return Chain(MemoryBackend())
    if spec.startswith(("http://", "https://")):
        return Chain(HttpBackend(spec))
    if spec != "anvil":
        raise ConfigError(f"unknown chain {spec!r}: use memory, anvil or an http(s):// JSON-RPC URL")
    if chain_dir is None:
        raise ConfigError("the anvil chain needs a home directory to keep its state in")
    return Chain(_open_anvil(ChainDir(chain_dir), anvil_bin, anvil_chain_id, state_interval, keep, lock_timeout))


def _open_anvil(
    chain_dir: ChainDir,
    anvil_bin: Path | None,
    chain_id: int,
    state_interval: int,
    keep: bool,
    lock_timeout: float,
) -> AnvilBackend:
    endpoint = chain_dir.live_endpoint()
    if endpoint is not None:
        if keep:
            raise Conflict(f"the chain of this home already runs at {endpoint.url} (pid {endpoint.pid})")
        return AnvilBackend(chain_dir, endpoint=endpoint)
    lock = chain_dir.lock(lock_timeout)
    try:
        # A keeper may have started while we waited for the lock.
        endpoint = chain_dir.live_endpoint()
        if endpoint is not None and not keep:
            lock.close()
            return AnvilBackend(chain_dir, endpoint=endpoint)
        process = AnvilProcess(find_anvil(anvil_bin), chain_dir, chain_id=chain_id, state_interval=state_interval)
        process.start()
    except BaseException:
        lock.close()
        raise
    backend = AnvilBackend(chain_dir, process=process, lock=lock, keeper=keep)
    if keep:
        chain_dir.record_endpoint(Endpoint(url=process.url, pid=process.pid, chain_id=chain_id))
    return backend
