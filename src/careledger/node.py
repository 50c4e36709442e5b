"""The composition root: one `Node` wires settings, database, chain, wallet and contracts.

Services take their collaborators in their constructors; this is the one place that
builds them, for the CLI, the API server and tests alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from careledger.access import Disclosures, IdentityClaims, RecordAccess
from careledger.anchoring import Anchorer, AnchorSource
from careledger.audit import AuditHeads, AuditLog, AuditReport
from careledger.chain import (
    AnvilProcess,
    ConsentRegistry,
    Contracts,
    Deployer,
    Deployment,
    DeployResult,
    Signer,
)
from careledger.config import NODE_WALLET, Home, Settings
from careledger.consent import ConsentService, SignedActions
from careledger.crypto import AtRestKey, PublicKey
from careledger.errors import AccessDenied, ValidationError
from careledger.files import secret_file
from careledger.identity import (
    ClientRegistry,
    CustodialKeys,
    CustodialPatients,
    IdentityService,
    UnlockedWallet,
    WalletStore,
)
from careledger.node_status import NodeStatus
from careledger.records import BlindIndex, Check, RecordCommitments, RecordService, verify_record
from careledger.store import BlobStore, Database

if TYPE_CHECKING:
    from careledger.chain import Chain
    from careledger.claims import ClaimsService, Payments, Plans
    from careledger.exchange import AccountingDesk, Custodian, Requester
    from careledger.iot import DeviceDirectory, DeviceService, Monitor, ReadingIntake, ReadingRecorder
    from careledger.research import Studies, StudyDesk

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

# Asked for a wallet's passphrase only when that wallet must sign or decrypt.
PassphraseSource = Callable[[str], str]


class Node:
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
        self._passphrase = passphrase
        self._keep_chain = keep_chain
        self.db = Database(settings.db_url(home))
        try:
            self.db.migrate()
            self.wallets = WalletStore(home.keystore_dir, light_kdf=settings.light_kdf)
            self._unlocked: dict[str, UnlockedWallet] = {}
            self._signers: dict[str, Signer] = {}
            self._registered_keys: dict[str, tuple[float, PublicKey]] = {}
            self._custodial_kek = AtRestKey(secret_file(home.custodial_kek_file))
            self.custodial = CustodialKeys(home.custodial_dir, self._custodial_kek)
            self._wire_records()
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

        return open_chain(
            self.settings.chain,
            chain_dir=self.home.chain_dir,
            anvil_bin=self.settings.anvil_bin,
            anvil_chain_id=self.settings.anvil_chain_id,
            state_interval=self.settings.anvil_state_interval,
            keep=self._keep_chain,
        )

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
    def clients(self) -> ClientRegistry:
        """The apps and systems registered to get tokens from this node."""
        return ClientRegistry(self.db)

    @cached_property
    def audit(self) -> AuditLog:
        """The sealed, hash-chained audit log (an older plaintext one sealed in place)."""
        audit = AuditLog(
            self.db,
            key=AtRestKey(secret_file(self.home.audit_key_file)),
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
    def payments(self) -> Payments:
        """CareToken transfers and permits."""
        # Claims and exchange are imported where they are wired: a command that reads records needs neither.
        from careledger.claims import Payments

        return Payments(self.contracts.token)

    @cached_property
    def plans(self) -> Plans:
        """Insurance plans and their escrow."""
        from careledger.claims import Plans

        return Plans(self.contracts.claims, self.payments, clock=lambda: int(time.time()))

    @cached_property
    def claims(self) -> ClaimsService:
        """Claims from encounters, adjudicated on chain."""
        from careledger.claims import ClaimsService

        return ClaimsService(self.records, self.contracts.claims, self.plans, self.payments, chain_id=self.chain_id)

    @cached_property
    def access(self) -> RecordAccess:
        """The guarded repository every face reads and writes records through."""
        return RecordAccess(
            self.records,
            self.consent,
            self.audit,
            custodian=self.address,
            identity=self.contracts.identity_registry,
            registry_as=self._consent_registry_as,
        )

    @cached_property
    def disclosures(self) -> Disclosures:
        """Patients' accountings of disclosures, each readable by its patient only."""
        return Disclosures(self.audit, self.db)

    @cached_property
    def claiming(self) -> IdentityClaims:
        """Custodial identities claimed by their patients' own wallets."""
        claiming = IdentityClaims(
            self.db,
            self.custodial,
            self._custodial_kek,
            lambda: self.contracts.identity_registry(as_wallet=NODE_WALLET),
            self.records,
            self.audit,
            custodian=self.address,
            registry_as=lambda name: self.contracts.identity_registry(as_wallet=name),
            after_claim=lambda patient: self.studies.collect(patient),
        )
        claiming.forget_claimed()
        return claiming

    @cached_property
    def device_directory(self) -> DeviceDirectory:
        """The devices registered here and their bindings (the database only: no chain)."""
        from careledger.iot import DeviceDirectory

        return DeviceDirectory(self.db)

    @cached_property
    def devices(self) -> DeviceService:
        """Registering devices and binding them to patients."""
        from careledger.iot import DeviceService

        return DeviceService(
            self.device_directory,
            self.wallets,
            self.identity,
            self.consent,
            self.access,
            custodian=self.address,
            chain_id=self.chain_id,
        )

    @cached_property
    def monitor(self) -> Monitor:
        """Rules over device readings, and the alerts they raise."""
        from careledger.iot import Monitor

        return Monitor(self.access, custodian=self.address)

    @cached_property
    def intake(self) -> ReadingIntake:
        """Signed device readings checked and journalled (alerts raised as they come)."""
        from careledger.iot import ReadingIntake

        return ReadingIntake(
            self.db,
            self.devices,
            self.audit,
            self._readings_key,
            custodian=self.address,
            ranges=self.settings.reading_ranges,
            on_accepted=self.monitor.observe,
        )

    @cached_property
    def recorder(self) -> ReadingRecorder:
        """Journalled readings stored as Observations."""
        from careledger.iot import ReadingRecorder

        summary = self.settings.reading_summary_seconds
        return ReadingRecorder(self.db, self.access, self._readings_key, summary_seconds=summary or None)

    @cached_property
    def _readings_key(self) -> AtRestKey:
        return AtRestKey(secret_file(self.home.readings_key_file))

    @cached_property
    def custodian(self) -> Custodian:
        """Answering other nodes' signed requests for records."""
        from careledger.exchange import Custodian

        return Custodian(
            self.records,
            self.access,
            self.consent,
            self.anchorer,
            self.contracts.identity_registry,
            address=self.address,
            key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            chain_id=self.chain_id,
        )

    @cached_property
    def accounting_desk(self) -> AccountingDesk:
        """Patients' accountings of disclosures across nodes: answered for other nodes, gathered for ours."""
        from careledger.exchange import AccountingDesk

        return AccountingDesk(
            self.db,
            self.audit,
            self.disclosures,
            self.contracts.identity_registry,
            address=self.address,
            key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            chain_id=self.chain_id,
        )

    @cached_property
    def studies(self) -> Studies:
        """Studies: their registry, patients joining and leaving, and the sponsor's releases and aggregates."""
        from careledger.research import Studies

        return Studies(
            self.contracts.research,
            self.contracts.token,
            self.contracts.identity_registry,
            self.consent,
            self.disclosures,
            node_wallet=NODE_WALLET,
            account=lambda wallet: self.unlock(wallet).account,
            key=lambda wallet: self.unlock(wallet).encryption_key(),
        )

    @cached_property
    def study_desk(self) -> StudyDesk:
        """Answering studies' sponsors: de-identified releases and private aggregates of this node's participants."""
        from careledger.research import StudyDesk

        return StudyDesk(
            self.db,
            self.records,
            self.access,
            self.contracts.research,
            self.contracts.identity_registry,
            address=self.address,
            node_wallet=NODE_WALLET,
            study_secret=secret_file(self.home.study_key_file),
            chain_id=self.chain_id,
        )

    @cached_property
    def requester(self) -> Requester:
        """Asking other nodes for records, and verifying what they send."""
        from careledger.exchange import Requester

        return Requester(
            self.records,
            self.audit,
            self.contracts.identity_registry,
            self.contracts.record_anchor,
            chain_id=self.chain_id,
        )

    def _wire_records(self) -> None:
        """The record repository (its blind index brought up to date), and the anchorers of its commitments and
        of the audit log's heads."""
        self.records = RecordService(
            self.db,
            BlobStore(self.home.blobs_dir),
            custodian=self.address,
            custodian_public=self.wallets.get(NODE_WALLET).encryption_key,
            custodian_key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            patient_key=self.encryption_key_of,
            index=BlindIndex(secret_file(self.home.index_key_file)),
            custodial=CustodialPatients(
                self.custodial, lambda: self.contracts.identity_registry(as_wallet=NODE_WALLET)
            ),
        )
        self.records.upgrade_index()
        # Anchorers reach the contract only when a batch is due, so neither needs the chain to exist.
        self.anchorer = self._anchorer(RecordCommitments())
        self.audit_anchorer = self._anchorer(AuditHeads())

    def _anchorer(self, source: AnchorSource) -> Anchorer:
        return Anchorer(
            self.db,
            lambda: self.contracts.record_anchor(write=True),
            source,
            batch_size=self.settings.anchor_batch_size,
            max_wait=self.settings.anchor_max_wait,
        )

    @property
    def chain_id(self) -> int:
        """The chain this node's records, consents and signatures are bound to."""
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

    def admit(self, member: str) -> tuple[bool, str]:
        """Let a node that joined anchor on RecordAnchor (this node must administer it): whether it was let
        now (False: it could already), and RecordAnchor's address."""
        anchor = self.contracts.record_anchor(write=True)
        if not anchor.is_admin(self.address):
            raise AccessDenied(
                f"this node ({self.address}) does not administer RecordAnchor {anchor.address}: "
                "the node that deployed it admits members"
            )
        if anchor.is_anchorer(member):
            return False, anchor.address
        anchor.grant_anchorer(member)
        return True, anchor.address

    def managed_chain(self) -> AnvilProcess:
        """The anvil process this home's chain runs in (for `chain up`); `ValidationError` for any other chain."""
        from careledger.chain import AnvilBackend

        backend = self.chain.backend
        if not isinstance(backend, AnvilBackend) or backend.process is None:
            raise ValidationError(f"`chain up` runs the managed anvil chain; this home's chain is {self.chain.kind}")
        return backend.process

    def verify_record(self, record_id: str, version: int | None = None) -> list[Check]:
        """Every check of one record version, down to its anchor on chain."""
        return verify_record(
            self.records, self.contracts.record_anchor(), self.unlock().encryption_key(), record_id, version
        )

    def verify_audit(self) -> AuditReport:
        """The audit log's hash chain, and its heads against the anchors on chain."""
        return self.audit.verify(self.contracts.record_anchor())

    def _consent_registry_as(self, address: str) -> ConsentRegistry:
        wallet = self.wallets.find(address)
        if wallet is None:
            raise AccessDenied(f"{address} has no wallet on this node to sign with")
        return self.contracts.consent_registry(as_wallet=wallet.name)

    def status(self) -> NodeStatus:
        """What `chain status` reports: backend, chain, block, database, contracts."""
        return NodeStatus.of(self)

    def close(self) -> None:
        """Close the chain (if it was opened) and the database, once what the audit log was handed is written."""
        if "audit" in self.__dict__:
            self.audit.flush()
        chain = self.__dict__.get("chain")
        if chain is not None:
            chain.close()
        self.db.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
