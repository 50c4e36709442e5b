"""A drug supply network on one anvil chain, shared by the module that asks for it: a regulator (the founding node:
it deployed the contracts and holds REGULATOR_ROLE), a manufacturer it admitted with GS1 company prefix 0614141,
a wholesaler, and pharmacies A and B, each a node of its own home. Tests take fresh serials and containers from it
(`commission`, `case`), so those sharing the network never step on each other's packs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from biip.checksums import gs1_standard_check_digit

from careledger.access import AFFILIATION
from careledger.chain import Role, open_chain, pack_key
from careledger.config import NODE_WALLET, Settings
from careledger.node import Node
from careledger.supplychain import OPERATOR, Container, EventQuery, Identifier, Pack
from careledger.testdata import PASSPHRASE, founding_node, joining_node

PREFIX = "0614141"
GTIN = f"0{PREFIX}12345" + str(gs1_standard_check_digit(f"0{PREFIX}12345"))  # 00614141123452
EXPIRY = date(2031, 1, 31)


@dataclass
class SupplyNetwork:
    """The five nodes of a supply chain on one chain: `regulator` admits, `manufacturer` commissions packs of
    `GTIN`, `wholesaler` passes them on to `pharmacy_a` (and, in tests that need one who never received them,
    `pharmacy_b`). `pharmacist` is pharmacy A's staff (a practitioner wallet on its home, a live affiliation it
    attested). `commission` and `case` hand out serials and SSCCs no other test of the module used; `at_pharmacy`
    brings fresh packs the whole way to pharmacy A; `patient` gives a node a patient to dispense to; `audited`,
    `held` and `status` read a node's audit, events and chain."""

    regulator: Node
    manufacturer: Node
    wholesaler: Node
    pharmacy_a: Node
    pharmacy_b: Node
    pharmacist: str = ""
    gtin: str = GTIN
    _serials: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _ssccs: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def packs(self, count: int, *, lot: str = "L1", expiry: date = EXPIRY) -> list[Pack]:
        """`count` packs of fresh serials (not commissioned)."""
        return [Pack(self.gtin, f"S{next(self._serials):06d}", lot, expiry) for _ in range(count)]

    def commission(self, count: int, *, lot: str = "L1", expiry: date = EXPIRY) -> list[Pack]:
        """`count` fresh packs commissioned by the manufacturer (one event)."""
        packs = self.packs(count, lot=lot, expiry=expiry)
        self.manufacturer.supply.commission(packs, by=self.manufacturer.address)
        return packs

    def case(self) -> Container:
        """A fresh SSCC of the manufacturer's prefix, never packed."""
        body = f"0{PREFIX}{next(self._ssccs):09d}"
        return Container(body + str(gs1_standard_check_digit(body)))

    def transfer(self, sender: Node, receiver: Node, items: Sequence[Identifier]) -> str:
        """Ship `items` from `sender` to `receiver`, hand the receiver the shipping notice (as `drug receive
        --notice` does: the items' signed history with it), and receive them: the shipment's id."""
        shipment = sender.supply.ship(items, receiver.address, by=sender.address)
        receiver.supply.accept_notice(sender.supply.notice(shipment, by=sender.address))
        receiver.supply.receive(shipment, by=receiver.address)
        return shipment

    def at_pharmacy(self, count: int = 1, *, lot: str = "L1", expiry: date = EXPIRY) -> list[Pack]:
        """`count` fresh packs the whole way to pharmacy A: commissioned, to the wholesaler, to the pharmacy, each
        step received (set up in process, not under test where it is used)."""
        packs = self.commission(count, lot=lot, expiry=expiry)
        self.transfer(self.manufacturer, self.wholesaler, packs)
        self.transfer(self.wholesaler, self.pharmacy_a, packs)
        return packs

    @staticmethod
    def patient(node: Node, name: str, *, registered: bool = False) -> str:
        """A patient of `node`'s: a wallet `name` on its home (`registered` on chain too, as one who signs in must
        be) and her Patient record there, of id `name`: her address."""
        wallet = node.wallets.create(name, Role.PATIENT, PASSPHRASE)
        if registered:
            node.contracts.identity_registry(as_wallet=name).register(Role.PATIENT, wallet.encryption_key)
        record = {"resourceType": "Patient", "id": name, "name": [{"family": "Supplied", "given": [name.title()]}]}
        node.maintenance.write(record, patient_address=wallet.address)
        return wallet.address

    @staticmethod
    def audited(node: Node, action: str) -> Any:
        """The newest audit entry of `action` (`supply.verify`, `supply.capture`, …) at `node`."""
        return next(e for e in node.audit.entries(newest_first=True, limit=50) if e.access.interaction == action)

    @staticmethod
    def held(node: Node) -> int:
        """How many EPCIS events `node` holds (up to a page of 1000)."""
        return len(node.supply.events(EventQuery(per_page=1000), by=OPERATOR).events)

    @staticmethod
    def status(node: Node, pack: Pack) -> Any:
        """What the chain says of `pack` now, as `node` reads it."""
        return node.contracts.supply_chain().status(pack_key(pack.gtin, pack.serial))

    def staff(self, node: Node, name: str) -> str:
        """A practitioner `name` with a wallet on `node`'s home, registered, to whom `node` attested an
        affiliation (the regulator, who administers the registry, lets `node` attest): its address."""
        founder = self.regulator.contracts.identity_registry(as_wallet=NODE_WALLET)
        if not founder.is_role_holder("ISSUER_ROLE", node.address):
            founder.grant_role("ISSUER_ROLE", node.address)
        wallet = node.wallets.create(name, Role.PRACTITIONER, PASSPHRASE)
        node.contracts.identity_registry(as_wallet=name).register(wallet.role, wallet.encryption_key)
        until = int((datetime.now(UTC) + timedelta(days=365)).timestamp())
        node.contracts.identity_registry(as_wallet=NODE_WALLET).attest(wallet.address, AFFILIATION, until)
        return wallet.address

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of the network."""
        return (self.regulator, self.manufacturer, self.wholesaler, self.pharmacy_a, self.pharmacy_b)


@pytest.fixture(scope="module")
def supply_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupplyNetwork]:
    """The network, its manufacturer admitted until ten years from now."""
    root: Path = tmp_path_factory.mktemp("supply")
    with open_chain("anvil", chain_dir=root / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        regulator = founding_node(root / "regulator", settings)
        nodes = [regulator]
        try:
            for name in ("manufacturer", "wholesaler", "pharmacy-a", "pharmacy-b"):
                nodes.append(joining_node(root / name, settings, regulator))
            network = SupplyNetwork(*nodes)
            regulator.contracts.supply_chain(as_wallet=NODE_WALLET).grant_regulator(regulator.address)
            until = int((datetime.now(UTC) + timedelta(days=3650)).timestamp())
            regulator.supply.admit(network.manufacturer.address, PREFIX, "MIA-2026-0042", until, by=regulator.address)
            network.pharmacist = network.staff(network.pharmacy_a, "pharmacist")
            yield network
        finally:
            for node in reversed(nodes):
                node.close()
