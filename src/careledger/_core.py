"""What the core of `careledger.node.Node` gives its capability mixins (`_capabilities`, `_oversight`, `_supply`,
`_trials`), declared once for the type checker.

Each mixin wires the services of one concern from the core the composition root builds (home, database, chain,
wallets, records, the door, audit, consent, identity); `Core` says what that core is, so a mixin names only what it
needs beyond it. At run time `Core` is `object`: nothing here exists but for mypy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from careledger.access import BreakGlassReviews, Disclosures, RecordAccess, SystemRepository
    from careledger.anchoring import Anchorer, AnchorSource
    from careledger.audit import AuditLog
    from careledger.chain import Chain, Contracts
    from careledger.config import Home, Settings
    from careledger.consent import ConsentService, Purpose
    from careledger.crypto import AtRestKey
    from careledger.identity import CustodialKeys, IdentityService, UnlockedWallet, Vault, WalletStore
    from careledger.records import RecordService
    from careledger.shared import SharedState
    from careledger.store import BlobStores, Database

    class Core:
        """The composition root's core, as `careledger.node.Node` builds it."""

        db: Database
        home: Home
        settings: Settings
        wallets: WalletStore
        vault: Vault
        anchorer: Anchorer
        audit_anchorer: Anchorer

        @property
        def address(self) -> str: ...
        @property
        def chain_id(self) -> int: ...
        @property
        def chain(self) -> Chain: ...
        @property
        def contracts(self) -> Contracts: ...
        @property
        def audit(self) -> AuditLog: ...
        @property
        def consent(self) -> ConsentService: ...
        @property
        def identity(self) -> IdentityService: ...
        @property
        def access(self) -> RecordAccess: ...
        @property
        def disclosures(self) -> Disclosures: ...
        @property
        def break_glass_reviews(self) -> BreakGlassReviews: ...
        @property
        def shared(self) -> SharedState: ...
        @property
        def blob_stores(self) -> BlobStores: ...
        @property
        def custodial(self) -> CustodialKeys: ...
        @property
        def _custodial_kek(self) -> AtRestKey: ...
        @property
        def _records(self) -> RecordService: ...
        def unlock(self, wallet: str = ...) -> UnlockedWallet: ...
        def _system(self, work: str, purpose: Purpose) -> SystemRepository: ...
        def _anchorer(self, source: AnchorSource) -> Anchorer: ...

else:
    Core = object
