"""The clinical trial services of a node (DESIGN.md section 14, issue 42): its registry as sponsors and ethics boards
use it, its desk as a trial's site, and its participants' own desk.

A mixin of `careledger.node.Node`, beside `careledger._supply`: what it needs of the core is declared in
`careledger._core`, and the `trials` package is imported where it is wired, so a command that never touches a trial
imports none of it. Faces call only `trial_registry`, `trial_site` and `trial_participant`.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING

from careledger._core import Core
from careledger.config import NODE_WALLET
from careledger.consent import Purpose

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from careledger.access import SystemRepository
    from careledger.anchoring import Anchorer
    from careledger.chain import Trials
    from careledger.trials import (
        Consents,
        Nodes,
        SafetyReports,
        Settlement,
        TrialParticipantDesk,
        TrialRegistry,
        TrialSite,
        TrialStore,
    )


class TrialServices(Core):
    """The node's trial registry, site desk and participants' desk, wired from the core."""

    @cached_property
    def trial_registry(self) -> TrialRegistry:
        """Trials as their sponsors and ethics boards use them (register, approve, amend, seed, randomise,
        unblind) and as anyone reads them (definitions, enrolment by site, the forecast, payments); safety reports
        received, read by the sponsor and boards."""
        from careledger.trials import TrialRegistry

        return TrialRegistry(
            self._trials_contract,
            self._trial_store,
            self._trial_safety,
            self._trial_nodes,
            address_of=lambda wallet: self.wallets.get(wallet).address,
        )

    @cached_property
    def trial_site(self) -> TrialSite:
        """This node as a trial's site, for its staff (the care team): eligibility, consent, enrolment, visits,
        CRFs and their corrections, adverse events; and the escrow's milestone payments (node work)."""
        from careledger.trials import TrialSite

        return TrialSite(
            self.access,
            self.audit,
            self._trial_consents,
            self.trial_registry,
            self._trial_store,
            self._trial_settlement,
            self._trial_safety,
            self._trials_contract,
            here=self.address,
            chain_id=self.chain_id,
        )

    @cached_property
    def trial_participant(self) -> TrialParticipantDesk:
        """A patient's own trials here: consent documents, signing, schedule, stipends, withdrawal."""
        from careledger.trials import TrialParticipantDesk

        return TrialParticipantDesk(
            self.access,
            self._trial_consents,
            self.trial_registry,
            self._trial_store,
            self._trial_settlement,
            self._trials_contract,
        )

    def _trials_contract(self, *, as_wallet: str | None = None) -> Trials:
        """The Trials contract, read-only or signing as one of the node's wallets."""
        return self.contracts.trials(as_wallet=as_wallet)

    @cached_property
    def trial_anchorer(self) -> Anchorer:
        """Anchors this site's visit leaves (what its milestone payments prove) in batches of its own on
        RecordAnchor, due like the records'; apart from them, as the contract pays only for a batch the site
        anchored and a leaf must match no record's commitment."""
        from careledger.trials import TrialVisitLeaves

        return self._anchorer(TrialVisitLeaves())

    @cached_property
    def _trial_settlement(self) -> Settlement:
        """The escrow's payments of this site's visits, and the payees its participants name (both desks)."""
        from careledger.trials import Settlement, questionnaire

        return Settlement(
            self._trial_store,
            self._trial_payments_work,
            self._trials_contract,
            lambda: self.contracts.trials(as_wallet=NODE_WALLET),
            self.trial_anchorer.anchor_pending,
            lambda trial_id, visit: questionnaire(self.trial_registry.protocol(trial_id), visit),
        )

    @cached_property
    def _trial_payments_work(self) -> SystemRepository:
        """The node's "trial milestone payments" work: a CRF version's commitment and current version."""
        return self._system("trial milestone payments", Purpose.HPAYMT)

    @cached_property
    def _trial_store(self) -> TrialStore:
        from careledger.trials import TrialStore

        def commitment(record_id: str, version: int) -> bytes:
            """A CRF version's commitment, hidden in its visit leaf under a fresh salt."""
            work = self._trial_payments_work
            return work.commitment_of(work.get(record_id, version))

        return TrialStore(self.db, lambda: self._custodial_kek, commitment)

    @cached_property
    def _trial_nodes(self) -> Nodes:
        from careledger.trials import Nodes

        return Nodes(lambda: self.contracts.identity_registry())

    @cached_property
    def _trial_safety(self) -> SafetyReports:
        from careledger.exchange import spend_fresh
        from careledger.trials import SafetyReports

        return SafetyReports(
            self._trial_store,
            self.audit,
            self._trials_contract,
            lambda: self.contracts.identity_registry(),
            self.shared.tickets,
            lambda: self._custodial_kek,
            lambda: self.unlock().account,
            self._trial_nodes,
            fresh=lambda signer, nonce, expiry: spend_fresh(self.db, signer, nonce, expiry, time.time()),
            here=self.address,
            chain_id=self.chain_id,
            holds=lambda address: self.wallets.find(address) is not None,
        )

    @cached_property
    def _trial_consents(self) -> Consents:
        from careledger.trials import Consents

        def custodial(address: str) -> LocalAccount | None:
            """The key this node holds for a custodial patient; None if she holds her own."""
            return self.custodial.account(address) if self.custodial.holds(address) else None

        return Consents(
            self.trial_registry,
            self._trials_contract,
            lambda: self.contracts.trials(as_wallet=NODE_WALLET),
            custodial,
            here=self.address,
            chain_id=self.chain_id,
        )
