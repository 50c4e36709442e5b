"""What the SupplyChain.vy tests share: a deployed contract with a regulator and an admitted manufacturer, GS1
identifiers with their check digits, and the steps its parties take (the world's commission, pack, ship, receive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boa
import pytest
from biip.checksums import gs1_standard_check_digit
from eth_utils import keccak

from careledger.chain import pack_key
from tests.contracts.conftest import contract

ACTIVE, IN_TRANSIT, DECOMMISSIONED = 1, 2, 3
DISPENSED, DESTROYED, OTHER = 1, 2, 3
PREFIX = "0614141"
EXPIRY = 20271231
LICENCE = keccak(b"manufacturing licence 42")
ZERO = "0x0000000000000000000000000000000000000000"


def gtin(body: str) -> str:
    """A GTIN-14 from its 13 data digits, with its GS1 check digit."""
    return body + str(gs1_standard_check_digit(body))


def sscc(serial: int, prefix: str = PREFIX) -> str:
    """The SSCC of a case of `prefix` (extension digit 1), serial reference `serial`, with its check digit."""
    body = f"1{prefix}{serial:0{16 - len(prefix)}d}"
    return body + str(gs1_standard_check_digit(body))


GTIN = gtin("0" + PREFIX + "12345")
OTHER_GTIN = gtin("0" + "0614142" + "12345")  # another company's prefix


@dataclass
class World:
    """SupplyChain deployed by `admin`, who made `regulator` one, who admitted `maker` with PREFIX for a year."""

    supply: Any
    admin: Any
    regulator: Any
    maker: Any
    wholesaler: Any
    pharmacy: Any
    stranger: Any

    def commission(self, serials: list[str], lot: str = "LOT1", gtin_: str = GTIN, expiry: int = EXPIRY) -> list[bytes]:
        """Commission `serials` as the manufacturer; their keys."""
        with boa.env.prank(self.maker):
            self.supply.commission(int(gtin_), lot, expiry, serials)
        return [pack_key(gtin_, s) for s in serials]

    def pack(self, holder: Any, case: str, children: list[bytes]) -> None:
        """Pack `children` into the case of SSCC `case` as `holder`."""
        with boa.env.prank(holder):
            self.supply.pack(int(case), children)

    def ship(self, sender: Any, receiver: Any, items: list[bytes], shipment: bytes = b"s1") -> bytes:
        """Ship `items` from `sender` to `receiver` under the id keccak256(`shipment`); that id."""
        shipment_id = keccak(shipment)
        with boa.env.prank(sender):
            self.supply.ship(shipment_id, receiver, items)
        return shipment_id

    def receive(self, receiver: Any, items: list[bytes], shipment_id: bytes) -> None:
        """Receive a shipment as `receiver`."""
        with boa.env.prank(receiver):
            self.supply.receive(shipment_id, items)

    def events(self, name: str) -> list[Any]:
        """The last call's logs named `name`."""
        return [e for e in self.supply.get_logs() if type(e).__name__ == name]

    def topics(self) -> list[tuple[int, ...]]:
        """The raw topics of the last call's logs: what `eth_getLogs` filters on."""
        return [entry[2] for entry in self.supply._computation.get_raw_log_entries()]


def now() -> int:
    """The chain's time."""
    return int(boa.env.evm.patch.timestamp)


def deploy_world(admin: Any) -> World:
    """A fresh SupplyChain and its parties."""
    with boa.env.prank(admin):
        supply = contract("SupplyChain").deploy()
    regulator = boa.env.generate_address("regulator")
    maker = boa.env.generate_address("manufacturer")
    with boa.env.prank(admin):
        supply.grantRole(supply.REGULATOR_ROLE(), regulator)
    with boa.env.prank(regulator):
        supply.admit(maker, int(PREFIX), len(PREFIX), LICENCE, now() + 365 * 86_400)
    return World(
        supply,
        admin,
        regulator,
        maker,
        boa.env.generate_address("wholesaler"),
        boa.env.generate_address("pharmacy"),
        boa.env.generate_address("stranger"),
    )


@pytest.fixture(name="world")
def world_fixture(admin: Any) -> World:
    """The world of a test (import this in a test module: `world` is its fixture's name)."""
    return deploy_world(admin)


def word(value: bytes) -> int:
    """A 32-byte key as the topic word it is."""
    return int.from_bytes(value, "big")
