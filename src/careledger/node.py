"""The composition root: one `Node` wires settings, database, chain, wallet and contracts.

Services take their collaborators in their constructors; this is the one place that
builds them, for the CLI, the API server and tests alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar, cast

from careledger._fs import secret_file
from careledger.access import IdentityClaims, RecordAccess
from careledger.anchoring import Anchorer
from careledger.audit import AuditHeads, AuditLog
from careledger.chain import (
    CareToken,
    Chain,
    Claims,
    ConsentRegistry,
    ContractFacade,
    Deployer,
    DeployResult,
    IdentityRegistry,
    RecordAnchor,
    Role,
    Signer,
    open_chain,
)
from careledger.claims import ClaimsService
from careledger.config import NODE_WALLET, Home, Settings, write_config
from careledger.consent import ConsentService
from careledger.crypto import AtRestKey, PublicKey
from careledger.errors import AccessDenied, Conflict
from careledger.exchange import Custodian, Requester
from careledger.identity import CustodialKeys, CustodialPatients, UnlockedWallet, Wallet, WalletStore
from careledger.records import BlindIndex, RecordCommitments, RecordService
from careledger.store import BlobStore, Database

_Facade = TypeVar("_Facade", bound=ContractFacade)
_REGISTERED_KEY_TTL = 60.0

# Asked for a wallet's passphrase only when that wallet must sign or decrypt.
PassphraseSource = Callable[[str], str]


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


def init_home(home: Home, settings: Settings, passphrase: str) -> Wallet:
    """Create a node's home: config, node wallet, migrated database. The node's wallet."""
    if home.is_initialised():
        node = WalletStore(home.keystore_dir).get(NODE_WALLET)
        raise Conflict(f"{home.path} is already a CareLedger home (node {node.address})")
    home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.require_private()
    secret_file(home.index_key_file)  # the blind index's key, made with the home
    wallets = WalletStore(home.keystore_dir, light_kdf=settings.light_kdf)
    node_wallet = wallets.create(NODE_WALLET, Role.ORG, passphrase)
    database = Database(settings.db_url(home))
    try:
        database.migrate()
    finally:
        database.close()
    # Written last: a home counts as initialised only once everything else is in place.
    write_config(home, settings)
    return node_wallet


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
        self.wallets = WalletStore(home.keystore_dir, light_kdf=settings.light_kdf)
        self._unlocked: dict[str, UnlockedWallet] = {}
        self._signers: dict[str, Signer] = {}
        self._facades: dict[tuple[str, str, str | None], ContractFacade] = {}
        self._registered_keys: dict[str, tuple[float, PublicKey]] = {}
        custodial_kek = AtRestKey(secret_file(home.custodial_kek_file))
        self.custodial = CustodialKeys(home.custodial_dir, custodial_kek)
        self.records = RecordService(
            self.db,
            BlobStore(home.blobs_dir),
            custodian=self.address,
            custodian_public=self.wallets.get(NODE_WALLET).encryption_key,
            custodian_key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            patient_key=self.encryption_key_of,
            index=BlindIndex(secret_file(home.index_key_file)),
            custodial=CustodialPatients(self.custodial, lambda: self.identity_registry(as_wallet=NODE_WALLET)),
        )
        self.records.upgrade_index()
        self.anchorer = Anchorer(
            self.db,
            lambda: self.record_anchor(write=True),
            RecordCommitments(),
            batch_size=settings.anchor_batch_size,
            max_wait=settings.anchor_max_wait,
        )
        self.audit = AuditLog(
            self.db,
            key=AtRestKey(secret_file(home.audit_key_file)),
            observer=self.address,
            chain_id=self.chain.chain_id,
        )
        self.audit.seal_plaintext()
        self.audit_anchorer = Anchorer(
            self.db,
            lambda: self.record_anchor(write=True),
            AuditHeads(),
            batch_size=settings.anchor_batch_size,
            max_wait=settings.anchor_max_wait,
        )
        self.consent = ConsentService(self.db, self.consent_registry)
        self.claims = ClaimsService(self.records, chain_id=self.chain.chain_id)
        self.access = RecordAccess(
            self.records,
            self.consent,
            self.audit,
            custodian=self.address,
            identity=self.identity_registry,
            registry_as=self._consent_registry_as,
        )
        self.claiming = IdentityClaims(
            self.db,
            self.custodial,
            custodial_kek,
            lambda: self.identity_registry(as_wallet=NODE_WALLET),
            self.records,
            self.audit,
            custodian=self.address,
        )
        self.claiming.forget_claimed()
        self.custodian = Custodian(
            self.records,
            self.access,
            self.consent,
            self.anchorer,
            self.identity_registry,
            address=self.address,
            key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            chain_id=self.chain.chain_id,
        )
        self.requester = Requester(
            self.records, self.audit, self.identity_registry, self.record_anchor, chain_id=self.chain.chain_id
        )

    @property
    def address(self) -> str:
        """The node wallet's address (read without the passphrase)."""
        return self.wallets.get(NODE_WALLET).address

    def unlock(self, wallet: str = NODE_WALLET) -> UnlockedWallet:
        """A wallet's keys, decrypted on first use only: read-only commands never ask."""
        if wallet not in self._unlocked:
            self._unlocked[wallet] = self.wallets.unlock(wallet, self._passphrase(wallet))
        return self._unlocked[wallet]

    def signer_for(self, wallet: str = NODE_WALLET) -> Signer:
        if wallet not in self._signers:
            self._signers[wallet] = self.chain.signer(self.unlock(wallet).account)
        return self._signers[wallet]

    @property
    def signer(self) -> Signer:
        """The node wallet's signer."""
        return self.signer_for(NODE_WALLET)

    def encryption_key_of(self, address: str) -> PublicKey:
        """An actor's public encryption key: from a wallet held here, else the IdentityRegistry."""
        wallet = self.wallets.find(address)
        if wallet is not None:
            return wallet.encryption_key
        if self.custodial.holds(address):
            return self.custodial.public_key(address)
        # Looked up on chain once a minute at most: every record written for a patient whose
        # wallet is elsewhere needs it, and a rotated key is still one the patient can open.
        now = time.monotonic()
        cached = self._registered_keys.get(address)
        if cached is not None and now - cached[0] < _REGISTERED_KEY_TTL:
            return cached[1]
        key = self.identity_registry().require_actor(address).encryption_key
        self._registered_keys[address] = (now, key)
        return key

    def deploy(self) -> list[DeployResult]:
        """Deploy every contract that is missing or changed on this chain."""
        return self.deployer.deploy_all(self.signer)

    def record_anchor(self, *, write: bool = False) -> RecordAnchor:
        return self._facade(RecordAnchor, NODE_WALLET if write else None)

    def identity_registry(self, *, as_wallet: str | None = None) -> IdentityRegistry:
        """The registry, read-only or signing as one of the node's wallets."""
        return self._facade(IdentityRegistry, as_wallet)

    def consent_registry(self, *, as_wallet: str | None = None) -> ConsentRegistry:
        """The consent registry, read-only or signing as one of the node's wallets."""
        return self._facade(ConsentRegistry, as_wallet)

    def claims_contract(self, *, as_wallet: str | None = None) -> Claims:
        """The claims contract, read-only or signing as one of the node's wallets."""
        return self._facade(Claims, as_wallet)

    def token(self, *, as_wallet: str | None = None, address: str | None = None) -> CareToken:
        """CareToken (or the ERC-20 at `address`), read-only or signing as one of the node's wallets."""
        return self._facade(CareToken, as_wallet, address)

    def _facade(self, kind: type[_Facade], wallet: str | None, address: str | None = None) -> _Facade:
        """One facade per contract, address and wallet for the node's life: web3 takes ~7 ms to build one."""
        address = address or self.deployer.address(kind.contract_name)
        key = (kind.contract_name, address, wallet)
        found = self._facades.get(key)
        if found is None:
            found = kind(self.chain, address, self.signer_for(wallet) if wallet else None)
            self._facades[key] = found
        return cast("_Facade", found)

    def _consent_registry_as(self, address: str) -> ConsentRegistry:
        wallet = self.wallets.find(address)
        if wallet is None:
            raise AccessDenied(f"{address} has no wallet on this node to sign with")
        return self.consent_registry(as_wallet=wallet.name)

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
