"""The drug supply chain services of a node (DESIGN.md section 13, issue 41): its EPCIS events and custody steps.

A mixin of `careledger.node.Node`, beside `careledger._capabilities` and `careledger._oversight`: what it needs of
the core is declared in `careledger._core`, and the `supplychain` package is imported where it is wired, so a
command that never touches the supply chain imports none of it.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING

from careledger._core import Core
from careledger.config import NODE_WALLET
from careledger.consent import Purpose

if TYPE_CHECKING:
    from careledger.anchoring import Anchorer
    from careledger.chain import SupplyChain
    from careledger.supplychain import Commissioned, Dispensary, Pack, Supply, SupplyRoles
    from careledger.telehealth import Messages


class Supplies(Core):
    """The node's supply chain service and the anchorer of its events' digests, wired from the core."""

    if TYPE_CHECKING:  # what it needs beyond the core (`careledger._core.Core`)

        @property
        def messages(self) -> Messages: ...

    @cached_property
    def supply(self) -> Supply:
        """Capture and query of EPCIS events, their custody steps on the SupplyChain contract, and traces; acted
        on by the node's operator and its staff (a live affiliation this node attested). A shipment's notice goes
        to the receiver's node at its endpoint in the IdentityRegistry, kept in the shared tickets until it arrives."""
        from careledger.supplychain import Supply

        return Supply(
            self.db,
            self.audit,
            lambda: self.contracts.supply_chain(as_wallet=NODE_WALLET),
            lambda: self.contracts.record_anchor(),
            lambda: self.unlock().account,
            node=self.address,
            chain_id=self.chain_id,
            roles=self.supply_roles,
            tickets=self.shared.tickets,
            identity=lambda: self.contracts.identity_registry(),
        )

    @cached_property
    def supply_anchorer(self) -> Anchorer:
        """Anchors the digests of captured supply events in batches on RecordAnchor, due like the records'."""
        from careledger.supplychain import EventDigests

        return self._anchorer(EventDigests())

    @cached_property
    def supply_roles(self) -> SupplyRoles:
        """Who acts for the node's supply chain: its staff (a live affiliation it attested) for reads and custody
        steps; its operator or supply officer (a live `supply-officer` credential it attested) for recalls and
        admissions. One rule for the EPCIS service and the pharmacy's counter."""
        from careledger.identity import SUPPLY_OFFICER
        from careledger.supplychain import SupplyRoles

        return SupplyRoles(
            self.audit,
            here=self.address,
            care_team=lambda actor: self.access.care_team(actor),
            officer=lambda actor: self.contracts.identity_registry().valid_credential_from(
                actor, SUPPLY_OFFICER, self.address
            ),
        )

    @cached_property
    def dispensary(self) -> Dispensary:
        """The pharmacy's counter: verify at dispense, dispense through the caller's door, quarantine; recalls
        followed (each patient dispensed a recalled lot here told, by the node's own "drug recall notice" work),
        and suspect packs verified by their manufacturer's node, or answered as one."""
        from careledger.exchange import spend_fresh
        from careledger.supplychain import Dispensary, EventQuery, Recalls, Suspects, commissioned_in

        def supply_chain() -> SupplyChain:
            """The SupplyChain, sending as the node wallet (a recall, a dispense's decommission)."""
            return self.contracts.supply_chain(as_wallet=NODE_WALLET)

        def commissioned(pack: Pack) -> Commissioned | None:
            """What this node's own commissioning event of `pack` says (as its manufacturer); None: it has none."""
            query = EventQuery(match_epc=(pack.epc,), biz_steps=("commissioning",))
            return commissioned_in(self.supply.events(query, by=self.address).events, self.address)

        recalls = Recalls(
            self.db,
            supply_chain,
            self._system("drug recall notice", Purpose.TREAT),
            lambda message, wallet: self.messages.arrived(message, wallet),
            here=self.address,
            chain_id=self.chain_id,
            name=self.settings.organisation,
        )
        suspects = Suspects(
            commissioned,
            lambda signer, nonce, deadline: spend_fresh(self.db, signer, nonce, deadline, time.time()),
            self.audit,
            supply_chain,
            lambda: self.contracts.identity_registry(),
            here=self.address,
            chain_id=self.chain_id,
            account=lambda: self.unlock().account,
        )
        return Dispensary(
            self.supply,
            self.access,
            self.audit,
            self.db,
            self.shared.tickets,
            supply_chain,
            recalls,
            suspects,
            self.supply_roles,
            here=self.address,
            chain_id=self.chain_id,
        )
