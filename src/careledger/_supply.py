"""The drug supply chain services of a node (DESIGN.md section 13, issue 41): its EPCIS events and custody steps.

A mixin of `careledger.node.Node`, beside `careledger._capabilities` and `careledger._oversight`: what it needs of
the core is declared below, and the `supplychain` package is imported where it is wired, so a command that never
touches the supply chain imports none of it.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from careledger.config import NODE_WALLET

if TYPE_CHECKING:
    from careledger.access import RecordAccess
    from careledger.anchoring import Anchorer, AnchorSource
    from careledger.audit import AuditLog
    from careledger.chain import Contracts
    from careledger.identity import UnlockedWallet
    from careledger.store import Database
    from careledger.supplychain import Supply


class Supplies:
    """The node's supply chain service and the anchorer of its events' digests, wired from the core."""

    if TYPE_CHECKING:  # what the core provides (`careledger.node.Node`)
        db: Database

        @property
        def address(self) -> str: ...
        @property
        def chain_id(self) -> int: ...
        @property
        def contracts(self) -> Contracts: ...
        @property
        def audit(self) -> AuditLog: ...
        @property
        def access(self) -> RecordAccess: ...
        def unlock(self, wallet: str = ...) -> UnlockedWallet: ...
        def _anchorer(self, source: AnchorSource) -> Anchorer: ...

    @cached_property
    def supply(self) -> Supply:
        """Capture and query of EPCIS events, their custody steps on the SupplyChain contract, and traces; acted
        on by the node's operator and its staff (a live affiliation this node attested)."""
        from careledger.supplychain import Supply

        return Supply(
            self.db,
            self.audit,
            lambda: self.contracts.supply_chain(as_wallet=NODE_WALLET),
            lambda: self.contracts.record_anchor(),
            lambda: self.unlock().account,
            node=self.address,
            chain_id=self.chain_id,
            staff=lambda actor: self.access.care_team(actor),
        )

    @cached_property
    def supply_anchorer(self) -> Anchorer:
        """Anchors the digests of captured supply events in batches on RecordAnchor, due like the records'."""
        from careledger.supplychain import EventDigests

        return self._anchorer(EventDigests())
