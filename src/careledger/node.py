"""The composition root: one `Node` wires settings, database, chain, wallet and contracts.

Services take their collaborators in their constructors; this is the one place that
builds them, for the CLI, the API server and tests alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType

from eth_account.signers.local import LocalAccount

from careledger.chain import Chain, Deployer, DeployResult, RecordAnchor, Signer, open_chain
from careledger.config import Home, Settings, write_config
from careledger.crypto import keystore_address, load_keystore, new_keystore
from careledger.errors import Conflict
from careledger.store import Database

PassphraseSource = Callable[[], str]


@dataclass(frozen=True, slots=True)
class ContractStatus:
    name: str
    address: str
    block: int


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What `chain status` reports."""

    home: str
    node_address: str
    backend: str
    url: str | None
    chain_id: int
    block: int
    database: str
    contracts: tuple[ContractStatus, ...]


def init_home(home: Home, settings: Settings, passphrase: str) -> str:
    """Create a node's home: config, node wallet, migrated database. The node's address."""
    if home.is_initialised():
        raise Conflict(f"{home.path} is already a CareLedger home (node {keystore_address(home.node_keystore)})")
    home.path.mkdir(parents=True, exist_ok=True)
    account = new_keystore(home.node_keystore, passphrase, light_kdf=settings.light_kdf)
    database = Database(settings.db_url(home))
    try:
        database.migrate()
    finally:
        database.close()
    # Written last: a home counts as initialised only once everything else is in place.
    write_config(home, settings)
    return account.address


class Node:
    """A running node on one home. Use as a context manager, or call `close()`."""

    def __init__(
        self, home: Home, settings: Settings, passphrase: PassphraseSource, *, keep_chain: bool = False
    ) -> None:
        home.require()
        self.home = home
        self.settings = settings
        self._passphrase = passphrase
        self.db = Database(settings.db_url(home))
        try:
            self.db.migrate()
            self.chain: Chain = open_chain(
                settings.chain,
                chain_dir=home.chain_dir,
                anvil_bin=settings.anvil_bin,
                anvil_chain_id=settings.anvil_chain_id,
                state_interval=settings.anvil_state_interval,
                keep=keep_chain,
            )
        except BaseException:
            self.db.close()
            raise
        self.deployer = Deployer(self.chain, home.deployments_dir)

    @property
    def address(self) -> str:
        """The node wallet's address (read without the passphrase)."""
        return keystore_address(self.home.node_keystore)

    @cached_property
    def account(self) -> LocalAccount:
        """The node wallet, decrypted on first use only: read-only commands never ask."""
        return load_keystore(self.home.node_keystore, self._passphrase())

    @cached_property
    def signer(self) -> Signer:
        return self.chain.signer(self.account)

    def deploy(self) -> list[DeployResult]:
        """Deploy every contract that is missing or changed on this chain."""
        return self.deployer.deploy_all(self.signer)

    def record_anchor(self, *, write: bool = False) -> RecordAnchor:
        address = self.deployer.address(RecordAnchor.contract_name)
        return RecordAnchor(self.chain, address, self.signer if write else None)

    def status(self) -> NodeStatus:
        return NodeStatus(
            home=str(self.home.path),
            node_address=self.address,
            backend=self.chain.kind,
            url=self.chain.url,
            chain_id=self.chain.chain_id,
            block=self.chain.block_number(),
            database=self.db.url.render_as_string(hide_password=True),
            contracts=tuple(ContractStatus(d.name, d.address, d.block) for d in self.deployer.deployments()),
        )

    def close(self) -> None:
        self.chain.close()
        self.db.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
