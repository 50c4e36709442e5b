"""The capability services of a node: claims and payments, devices, the exchange, research.

A mixin of `careledger.node.Node`, kept apart so the composition root reads in one sitting: the core (home,
database, chain, wallets, records, the door, audit, consent, identity) is wired there, and what each capability
package needs of it is declared in `careledger._core`. Each package is imported where it is wired, so a command that
only reads records imports none of them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from careledger._core import Core
from careledger.config import NODE_WALLET
from careledger.consent import Purpose
from careledger.crypto import AtRestKey
from careledger.errors import NotFound

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from careledger.claims import ClaimsService, Payments, Plans
    from careledger.erasure import Erasures
    from careledger.exchange import AccountingDesk, Courier, Custodian, Postbox, Requester
    from careledger.governance import Governance
    from careledger.insight import Insight, Models
    from careledger.insight.cds import CdsHooks
    from careledger.insight.federated import FederatedDesk, FederatedRuns
    from careledger.iot import DeviceDirectory, DeviceService, Monitor, ReadingIntake, ReadingRecorder
    from careledger.research import Studies, StudyDesk
    from careledger.telehealth import Bus, Messages, Reminders, Rooms, Scheduling, VisitPayments, Visits


class Capabilities(Core):
    """Claims, devices, exchange and research services, wired from the core a `Node` provides."""

    @cached_property
    def payments(self) -> Payments:
        """CareToken transfers and permits."""
        # Claims and exchange are imported where they are wired: a command that reads records needs neither.
        from careledger.claims import Payments

        return Payments(self.contracts.token)

    @cached_property
    def governance(self) -> Governance:
        """The network's council as this node, a member or not, sees and uses it (signing as the node)."""
        from careledger.governance import Governance

        return Governance(self.contracts, self.address, NODE_WALLET)

    @cached_property
    def plans(self) -> Plans:
        """Insurance plans and their escrow."""
        from careledger.claims import Plans

        return Plans(self.contracts.claims, self.payments, clock=lambda: int(time.time()))

    @cached_property
    def claims(self) -> ClaimsService:
        """Claims from encounters, adjudicated on chain."""
        from careledger.claims import ClaimsService

        return ClaimsService(
            self._system("claims", Purpose.HPAYMT),
            self.contracts.claims,
            self.plans,
            self.payments,
            chain_id=self.chain_id,
        )

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

        return Monitor(self.access, custodian=self.address, episodes=self.shared.tickets)

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
        return AtRestKey(self.vault.secret(self.home.readings_key_file))

    @cached_property
    def custodian(self) -> Custodian:
        """Answering other nodes' signed requests for records."""
        from careledger.exchange import Custodian

        return Custodian(
            self._system("exchange", Purpose.TREAT),
            self.db,
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
    def courier(self) -> Courier:
        """Carrying this node's messages, sealed, to the nodes of their recipients."""
        from careledger.exchange import Courier, Outbox

        return Courier(
            self.contracts.identity_registry,
            address=self.address,
            account=lambda: self.unlock(NODE_WALLET).account,
            chain_id=self.chain_id,
            outbox=Outbox(self.db),
        )

    @cached_property
    def postbox(self) -> Postbox:
        """Taking the messages other nodes deliver for this node's patients and practitioners."""
        from careledger.exchange import Postbox

        return Postbox(
            self._system("messages", Purpose.TREAT),
            self.db,
            self.access,
            self.consent,
            self.audit,
            self.contracts.identity_registry,
            address=self.address,
            key=lambda: self.unlock(NODE_WALLET).encryption_key(),
            chain_id=self.chain_id,
            arrived=lambda message, patient: self.messages.arrived(message, patient),
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
            self._system("research releases", Purpose.HRESCH),
            self.access,
            self.consent,
            self.contracts.research,
            self.contracts.identity_registry,
            address=self.address,
            node_wallet=NODE_WALLET,
            study_secret=self.vault.secret(self.home.study_key_file),
            chain_id=self.chain_id,
        )

    @cached_property
    def federated_desk(self) -> FederatedDesk:
        """Answering a study sponsor's federated run: each Flower message, over this node's participants' rows."""
        from careledger.insight.federated import FederatedDesk

        return FederatedDesk(self.study_desk)

    @cached_property
    def federated_runs(self) -> FederatedRuns:
        """A study sponsor's federated runs from this node, over every serving node; the model registered."""
        from careledger.insight.federated import FederatedRuns

        return FederatedRuns(
            self.study_desk,
            lambda: self.models,
            self.contracts.identity_registry,
            self.contracts.research,
            lambda wallet: self.unlock(wallet).account,
        )

    @cached_property
    def insight(self) -> Insight:
        """Scores from published equations over a patient's record, read and written through the caller's door."""
        from careledger.insight import Insight

        return Insight(today=lambda: datetime.now(UTC).date())

    @cached_property
    def models(self) -> Models:
        """Federated models: registered on chain by their study's sponsor, kept here, loaded only as registered."""
        from careledger.insight import Models

        return Models(
            self.db,
            self.contracts.model_registry,
            self.contracts.research,
            address_of=lambda wallet: self.wallets.get(wallet).address,
        )

    @cached_property
    def messages(self) -> Messages:
        """Messages between patients and their care team: threads of sealed Communications, read receipts, and
        notifications to signed-in streams (at every worker); a practitioner of another node's by the courier."""
        from careledger.access import Accessor
        from careledger.telehealth import Events, Messages, Readers, Receipts, visit_reminders

        readers = Readers(self.vault.secret(self.home.index_key_file))
        return Messages(
            Receipts(self.db, readers),
            Events(self.bus, readers),
            custodian=self.address,
            chain_id=self.chain_id,
            node_of=self.access.node_of,
            treats=self.access.treats,
            courier=lambda: self.courier,
            reminders=lambda wallet: visit_reminders(
                self.scheduling, self.access.for_caller(Accessor(wallet)), self.chain_id
            ),
        )

    @cached_property
    def bus(self) -> Bus:
        """Events to every worker of this node (this one too): the visit rooms' and the notifications to signed-in
        streams, over one listening connection per worker on PostgreSQL (LISTEN/NOTIFY), in process on SQLite."""
        from careledger.telehealth import LocalBus, PostgresBus

        return PostgresBus(self.db, self.shared.tickets) if self.db.backend == "postgresql" else LocalBus()

    @cached_property
    def rooms(self) -> Rooms:
        """Visit rooms: who is admitted, the waiting room, and the signalling between a visit's two browsers (across
        the workers of `serve --workers N` through PostgreSQL's LISTEN/NOTIFY)."""
        from careledger.telehealth import Rooms

        settings = self.settings
        return Rooms(
            self.access, self.shared.tickets, self.bus, ice_urls=settings.ice_servers, turn_secret=settings.turn_secret
        )

    @cached_property
    def requester(self) -> Requester:
        """Asking other nodes for records, and verifying what they send."""
        from careledger.exchange import Requester

        return Requester(
            self._system("exchange", Purpose.TREAT),
            self.audit,
            self.contracts.identity_registry,
            self.contracts.record_anchor,
            chain_id=self.chain_id,
        )

    @cached_property
    def visit_payments(self) -> VisitPayments:
        """Telehealth visit fees in CARE escrow: booked under the patient's signatures, settled by this node."""
        from careledger.telehealth import VisitPayments

        contracts = self.contracts
        return VisitPayments(contracts.visit_escrow, contracts.token, node_wallet=NODE_WALLET, address=self.address)

    @cached_property
    def scheduling(self) -> Scheduling:
        """Schedules and Slots, and booking them: a slot taken atomically, cancelled, moved (the node marks its
        Slots through its own door)."""
        from careledger.telehealth import Scheduling

        return Scheduling(
            self.db, self.access, custodian=self.address, changed=lambda appointment: self.rooms.changed(appointment)
        )

    @cached_property
    def visits(self) -> Visits:
        """Telehealth visits: the quote before booking, booking in one flow (consent, escrow, slot), the Encounter."""
        from careledger.telehealth import Visits

        money = self.payments.currency
        return Visits(
            self.claims.coverage,
            self.scheduling,
            self.visit_payments,
            self.consent,
            node_address=self.address,
            fee_units=lambda fee: fee * 10 ** money().decimals,
        )

    @cached_property
    def reminders(self) -> Reminders:
        """Reminders of visits soon to come, sent by the node's leader to each visit's patient and practitioner,
        once per visit and lead (a shared ticket), through the messages' notification streams."""
        from careledger.telehealth import Reminders

        return Reminders(
            self.scheduling, self.access, self.messages.events, self.shared.tickets, custodian=self.address
        )

    @cached_property
    def cds(self) -> CdsHooks:
        """The CDS Hooks services: EHRs known by their JWTs' iss, cards from the scores and order checks, every
        call audited in the patient's accounting (her address found by the index, nothing decrypted)."""
        from careledger.insight.cds import CdsClients, CdsHooks

        index = self._system("cds-hooks", Purpose.TREAT)

        def whose(patient_id: str) -> str | None:
            """The address of the patient whose Patient record has id `patient_id` here, if there is one."""
            try:
                stored = index.get(patient_id)
            except NotFound:
                return None
            return stored.patient_address if stored.resource_type == "Patient" else None

        tickets = self.shared.tickets
        clients = CdsClients(self.db, tickets)
        return CdsHooks(clients, self.audit, self.db, tickets, custodian=self.address, whose=whose)

    @cached_property
    def erasure(self) -> Erasures:
        """Erasure by key destruction: previews, patients' signed requests, other nodes' notices, legal holds."""
        from careledger.erasure import ErasurePeers, Erasures, LegalHolds, Retention
        from careledger.records import RecordEraser
        from careledger.store import BLOB_STORE_KINDS

        stores = [self.blob_stores.store(kind) for kind in BLOB_STORE_KINDS]  # a move leaves copies in the other
        node: dict[str, Any] = {"address": self.address, "chain_id": self.chain_id, "account": self._node_account}
        return Erasures(
            RecordEraser(self._records, stores),
            LegalHolds(self.db, self.audit),
            Retention(self.settings.erasure.retention),
            ErasurePeers(self.db, self.contracts.identity_registry, **node),
            self.audit,
            self.db,
            self.contracts.identity_registry,
            **node,
        )

    def _node_account(self) -> LocalAccount:
        return self.unlock(NODE_WALLET).account
