"""The composition root: one `Node` wires settings, database, chain, wallet and contracts.

Services take their collaborators in their constructors; this is the one place that
builds them, for the CLI, the API server and tests alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from careledger._capabilities import Capabilities
from careledger._oversight import Oversight
from careledger._supply import Supplies
from careledger._trials import TrialServices
from careledger.access import (
    BreakGlassReviews,
    Disclosures,
    EmergencySwitch,
    IdentityClaims,
    RecordAccess,
    SystemRepository,
    seal_older_reasons,
)
from careledger.anchoring import Anchorer, AnchorSource
from careledger.audit import AuditHeads, AuditLog, AuditReport
from careledger.chain import (
    AnvilProcess,
    ChainDir,
    ConsentRegistry,
    Contracts,
    Deployer,
    Deployment,
    DeployResult,
    Signer,
)
from careledger.config import NODE_WALLET, Home, Settings
from careledger.consent import ConsentService, Purpose, SignedActions
from careledger.crypto import AtRestKey, PublicKey
from careledger.errors import AccessDenied, ConfigError, ValidationError
from careledger.health import Health
from careledger.identity import (
    ClientRegistry,
    CustodialKeys,
    CustodialPatients,
    IdentityService,
    UnlockedWallet,
    Vault,
    WalletStore,
    asked_once,
)
from careledger.node_status import NodeStatus
from careledger.records import BlindIndex, Check, RecordCommitments, RecordService, verify_record
from careledger.services import PassphraseSource
from careledger.shared import Buckets, SharedState, Tickets
from careledger.store import BlobStores, Database, Leadership

if TYPE_CHECKING:
    from careledger.chain import Chain
    from careledger.governance import Admission
    from careledger.proofs import Proofs

_REGISTERED_KEY_TTL = 60.0

# Built in the constructor unless the node is lazy: every part that needs the chain.
_CHAIN_WIRED = (
    "chain",
    "audit",
    "consent",
    "identity",
    "claims",
    "access",
    "claiming",
    "custodian",
    "requester",
)


class Node(Capabilities, Oversight, Supplies, TrialServices):
    """A running node on one home. Use as a context manager, or call `close()`.

    What needs the chain (its connection, the contracts, every service that signs or reads
    them) is built on first use, so a command that only reads the database never starts
    anvil or imports web3. `lazy=False` (the default: the API server and tests) builds it
    all at once in the constructor, before any thread can race to build it twice.
    """

    def __init__(
        self,
        home: Home,
        settings: Settings,
        passphrase: PassphraseSource,
        *,
        keep_chain: bool = False,
        lazy: bool = False,
    ) -> None:
        home.require()
        self.home = home
        self.settings = settings
        self._passphrase = asked_once(passphrase)  # the vault and the node wallet share the node's passphrase
        self._keep_chain = keep_chain
        self.db = Database(settings.db_url(home))
        try:
            self.db.prepare()  # a schema behind is refused: `db upgrade` or `serve --migrate` upgrade it
            self.wallets = WalletStore(home.keystore_dir, light_kdf=settings.light_kdf)
            self._unlocked: dict[str, UnlockedWallet] = {}
            self._signers: dict[str, Signer] = {}
            self._registered_keys: dict[str, tuple[float, PublicKey]] = {}
            self.vault = Vault(home, self.wallets, lambda: self._passphrase(NODE_WALLET))  # opened when first needed
            # Anchorers reach the contract only when a batch is due, so neither needs the chain to exist.
            self.anchorer = self._anchorer(RecordCommitments())
            self.audit_anchorer = self._anchorer(AuditHeads())
            if not lazy:
                for wired in _CHAIN_WIRED:
                    getattr(self, wired)
        except BaseException:
            self.close()
            raise

    @cached_property
    def chain(self) -> Chain:
        """The chain this node's home names (the managed anvil started if it is not running)."""
        from careledger.chain import open_chain

        chain = open_chain(
            self.settings.chain,
            chain_dir=self.home.chain_dir,
            anvil_bin=self.settings.anvil_bin,
            anvil_chain_id=self.settings.anvil_chain_id,
            state_interval=self.settings.anvil_state_interval,
            keep=self._keep_chain,
        )
        told = self.__dict__.get("chain_id")
        if told is not None and told != chain.chain_id:  # what the audit log already named must be the chain
            chain.close()
            raise ConfigError(
                f"this home's chain is {chain.chain_id}, not {told} as its `chain up` record or anvil_chain_id said"
            )
        return chain

    @cached_property
    def deployer(self) -> Deployer:
        """Where this package's contracts are deployed on the chain."""
        return Deployer(self.chain, self.home.deployments_dir)

    @cached_property
    def contracts(self) -> Contracts:
        """The contract facades, for services and tests (faces go through services)."""
        return Contracts(self.chain, self.deployer, self.signer_for, NODE_WALLET)

    @cached_property
    def identity(self) -> IdentityService:
        """Registrations, credentials and custody on the IdentityRegistry."""
        return IdentityService(self.contracts.identity_registry, self.wallets, self.chain)

    @cached_property
    def leadership(self) -> Leadership:
        """Whether this process does the node's background work: one of its workers at a time (a PostgreSQL
        advisory lock; on SQLite the one process does)."""
        return Leadership(self.db)

    @cached_property
    def shared(self) -> SharedState:
        """What every worker of this node shares through its database: single-use tickets, rate-limit buckets."""
        return SharedState(Tickets(self.db), Buckets(self.db))

    @cached_property
    def clients(self) -> ClientRegistry:
        """The apps and systems registered to get tokens from this node."""
        return ClientRegistry(self.db, self.shared.tickets)

    @cached_property
    def audit(self) -> AuditLog:
        """The sealed, hash-chained audit log (an older plaintext one sealed in place)."""
        audit = AuditLog(
            self.db,
            key=AtRestKey(self.vault.secret(self.home.audit_key_file)),
            observer=self.address,
            chain_id=self.chain_id,
        )
        audit.seal_plaintext()
        return audit

    @cached_property
    def consent(self) -> ConsentService:
        """The node's index of consents on chain."""
        return ConsentService(self.db, self.contracts.consent_registry)

    @cached_property
    def consent_actions(self) -> SignedActions:
        """Revocations and care team restrictions a patient signs anywhere, for this node to submit."""
        return SignedActions(self.consent, self.contracts.consent_registry)

    @cached_property
    def access(self) -> RecordAccess:
        """The door: the guarded repository of each caller (the chain is reached only when a decision needs it);
        break-glass reasons kept bare before they were sealed are sealed in place (once per database)."""
        seal_older_reasons(self.db, self.audit)
        return RecordAccess(
            self._records,
            lambda: self.consent,
            self.audit,
            self.db,
            custodian=self.address,
            identity=lambda: self.contracts.identity_registry(),
            registry_as=self._consent_registry_as,
            payers=lambda: self.claims.payers,
        )

    @cached_property
    def proofs(self) -> Proofs:
        """Each record's proof of its anchor, handed out through the caller's door, and the node's verdict on it."""
        from careledger.proofs import Proofs  # eth-abi's grammar: built when a proof is first asked for

        return Proofs(self.access, self._records, self.contracts.record_anchor, lambda: self.unlock().encryption_key())

    @cached_property
    def maintenance(self) -> SystemRepository:
        """The node's own upkeep of its records (generated test data, the demo's checks), audited as the node."""
        return self._system("maintenance", Purpose.HOPERAT)

    @cached_property
    def blob_stores(self) -> BlobStores:
        """Where the records' blobs are kept (the `blob_store` setting), and the other store to move them to."""
        return BlobStores(self.settings.blob_store, self.home.blobs_dir, self.db)

    @cached_property
    def disclosures(self) -> Disclosures:
        """Patients' accountings of disclosures, each readable by its patient only."""
        return Disclosures(self.audit, self.db)

    @cached_property
    def break_glass_switch(self) -> EmergencySwitch:
        """Each patient's switch for break-glass on her records, on chain, flipped by her wallet kept here."""
        registry = self.contracts.consent_registry
        return EmergencySwitch(self.audit, registry=registry, registry_as=self._consent_registry_as)

    @cached_property
    def break_glass_reviews(self) -> BreakGlassReviews:
        """The review queue of this node's break-glass uses, judged by its privacy officers."""
        return BreakGlassReviews(
            self.db, self.audit, node=self.address, identity=lambda: self.contracts.identity_registry()
        )

    @cached_property
    def claiming(self) -> IdentityClaims:
        """Custodial identities claimed by their patients' own wallets."""
        claiming = IdentityClaims(
            self.db,
            self.custodial,
            self._custodial_kek,
            lambda: self.contracts.identity_registry(as_wallet=NODE_WALLET),
            self._records,
            self.audit,
            custodian=self.address,
            registry_as=lambda name: self.contracts.identity_registry(as_wallet=name),
            after_claim=lambda patient: self.studies.collect(patient),
        )
        claiming.forget_claimed()
        return claiming

    @cached_property
    def _custodial_kek(self) -> AtRestKey:
        return AtRestKey(self.vault.secret(self.home.custodial_kek_file))

    @cached_property
    def custodial(self) -> CustodialKeys:
        """The custodial patients' keys, sealed under the node's key-encryption key."""
        return CustodialKeys(self.home.custodial_dir, self._custodial_kek)

    @cached_property
    def _records(self) -> RecordService:
        """The record repository, its blind index brought up to date: built on first use, since its keys are
        the vault's (a command that only reads the chain asks for no passphrase)."""
        records = RecordService(
            self.db,
            self.blob_stores.current,
            custodian=self.address,
            custodian_public=self.wallets.get(NODE_WALLET).encryption_key,
            custodian_key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            patient_key=self.encryption_key_of,
            index=BlindIndex(self.vault.secret(self.home.index_key_file)),
            custodial=CustodialPatients(
                self.custodial, lambda: self.contracts.identity_registry(as_wallet=NODE_WALLET)
            ),
        )
        records.upgrade_index()
        return records

    def _system(self, work: str, purpose: Purpose) -> SystemRepository:
        """The system repository of one named piece of the node's own work (audited as the node, for `purpose`)."""
        return SystemRepository(self._records, self.audit, custodian=self.address, work=work, purpose=purpose)

    def _anchorer(self, source: AnchorSource) -> Anchorer:
        return Anchorer(
            self.db,
            lambda: self.contracts.record_anchor(write=True),
            source,
            batch_size=self.settings.anchor_batch_size,
            max_wait=self.settings.anchor_max_wait,
        )

    @cached_property
    def chain_id(self) -> int:
        """The chain this node's records, consents and signatures are bound to. The managed anvil's is the one
        it is started with, so a command that only reads the database (audited, and every audit entry names the
        chain) starts no chain; any other chain is asked."""
        if self.settings.chain == "anvil" and "chain" not in self.__dict__:
            kept = ChainDir(self.home.chain_dir).read_endpoint()  # a running `chain up` says which it runs
            return kept.chain_id if kept is not None else self.settings.anvil_chain_id
        return self.chain.chain_id

    @cached_property
    def address(self) -> str:
        """The node wallet's address (read without the passphrase, once: it is the home's for good)."""
        return self.wallets.get(NODE_WALLET).address

    def unlock(self, wallet: str = NODE_WALLET) -> UnlockedWallet:
        """A wallet's keys, decrypted on first use only: read-only commands never ask."""
        if wallet not in self._unlocked:
            self._unlocked[wallet] = self.wallets.unlock(wallet, self._passphrase(wallet))
        return self._unlocked[wallet]

    def signer_for(self, wallet: str = NODE_WALLET) -> Signer:
        """The signer of one of the node's wallets (unlocked on first use)."""
        if wallet not in self._signers:
            # Over PostgreSQL several workers send from one wallet: they count its nonce under one lock file.
            shared = self.home.path / f".{wallet}.nonce.lock" if self.db.backend == "postgresql" else None
            self._signers[wallet] = self.chain.signer(self.unlock(wallet).account, shared=shared)
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
        key = self.contracts.identity_registry().require_actor(address).encryption_key
        self._registered_keys[address] = (now, key)
        return key

    def deploy(self) -> list[DeployResult]:
        """Deploy every contract that is missing or changed on this chain."""
        return self.deployer.deploy_all(self.signer)

    def adopt(self, entries: list[dict[str, Any]]) -> list[Deployment]:
        """Join a network: take another node's deployments (`deployments/<chain>.json` entries) as ours,
        each checked on chain; those that check out. `ValidationError` for entries of another shape."""
        try:
            records = [Deployment.from_json(entry) for entry in entries]
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"not a list of deployments: {exc}") from None
        return self.deployer.adopt(records)

    def admit(self, member: str, *, issuer: bool = False) -> Admission:
        """Let a node that joined anchor and, `issuer`, attest credentials (its staff's affiliation, licences):
        the deployer's act until the council is bootstrapped (`careledger.governance.admit`)."""
        from careledger.governance import admit

        return admit(self.contracts, self.address, NODE_WALLET, member, issuer=issuer)

    def issuers(self) -> list[str]:
        """Who may attest credentials in the IdentityRegistry now."""
        from careledger.governance import issuers

        return issuers(self.contracts)

    def managed_chain(self) -> AnvilProcess:
        """The anvil process this home's chain runs in (for `chain up`); `ValidationError` for any other chain."""
        from careledger.chain import AnvilBackend

        backend = self.chain.backend
        if not isinstance(backend, AnvilBackend) or backend.process is None:
            raise ValidationError(f"`chain up` runs the managed anvil chain; this home's chain is {self.chain.kind}")
        return backend.process

    def verify_record(self, record_id: str, version: int | None = None) -> list[Check]:
        """Every check of one record version, down to its anchor on chain; decrypting it is audited."""
        self._system("verification", Purpose.HOPERAT).audit_reads([self._records.get(record_id, version)], "verify")
        return verify_record(
            self._records, self.contracts.record_anchor(), self.unlock().encryption_key(), record_id, version
        )

    def verify_audit(self) -> AuditReport:
        """The audit log's hash chain, and its heads against the anchors on chain."""
        return self.audit.verify(self.contracts.record_anchor())

    def verify_records(self) -> Iterator[tuple[str, list[Check], int]]:
        """`verify_record` of every current record (sensitive ones too: the node checks its own store, audited
        as its verification work), each with how many there are: what a restore reports."""
        current = self._system("verification", Purpose.HOPERAT).listing()
        self.contracts.record_anchor()  # the chain and the key built once, before the threads that share them
        self.unlock()
        # Each record waits on the chain three times: several are checked at a time (1,272 records: 33 s -> 17 s).
        with ThreadPoolExecutor(8, thread_name_prefix="careledger-verify") as pool:
            checked = pool.map(lambda one: self.verify_record(one.record_id), current)
            for stored, checks in zip(current, checked, strict=True):
                yield stored.record_id, checks, len(current)

    def _consent_registry_as(self, address: str) -> ConsentRegistry:
        wallet = self.wallets.find(address)
        if wallet is None:
            raise AccessDenied(f"{address} has no wallet on this node to sign with")
        return self.contracts.consent_registry(as_wallet=wallet.name)

    def status(self) -> NodeStatus:
        """What `chain status` reports: backend, chain, block, database, contracts."""
        return NodeStatus.of(self)

    @cached_property
    def health(self) -> Health:
        """What `/readyz` and `/metrics` ask of the node's parts, each within `ready_timeout`."""
        return Health.of(self, self._records.blobs.has)

    def close(self) -> None:
        """Close the chain (if it was opened) and the database, once what the audit log was handed is written."""
        if "audit" in self.__dict__:
            self.audit.flush()
        chain = self.__dict__.get("chain")
        if chain is not None:
            chain.close()
        bus = self.__dict__.get("bus")
        if bus is not None:  # the rooms' and the notifications' listener
            bus.close()
        self.db.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
