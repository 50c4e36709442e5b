"""SupplyChain.vy under titanoboa: admissions, commissioning, aggregation, shipments, decommissioning, recalls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boa
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.chain import container_key, items_hash, lot_key, pack_key
from tests.contracts.conftest import contract

ACTIVE, IN_TRANSIT, DECOMMISSIONED = 1, 2, 3
DISPENSED, DESTROYED, OTHER = 1, 2, 3
PREFIX = "0614141"
EXPIRY = 20271231
LICENCE = keccak(b"manufacturing licence 42")
ZERO = "0x0000000000000000000000000000000000000000"


def gtin(body: str) -> str:
    """A GTIN-14 from its 13 data digits, with its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


GTIN = gtin("0" + PREFIX + "12345")
OTHER_GTIN = gtin("0" + "0614142" + "12345")  # another company's prefix


@dataclass
class World:
    supply: Any
    admin: Any
    regulator: Any
    maker: Any
    wholesaler: Any
    pharmacy: Any
    stranger: Any


def _now() -> int:
    return int(boa.env.evm.patch.timestamp)


@pytest.fixture
def world(admin: Any) -> World:
    with boa.env.prank(admin):
        supply = contract("SupplyChain").deploy()
    regulator = boa.env.generate_address("regulator")
    maker = boa.env.generate_address("manufacturer")
    with boa.env.prank(admin):
        supply.grantRole(supply.REGULATOR_ROLE(), regulator)
    with boa.env.prank(regulator):
        supply.admit(maker, int(PREFIX), len(PREFIX), LICENCE, _now() + 365 * 86_400)
    return World(
        supply,
        admin,
        regulator,
        maker,
        boa.env.generate_address("wholesaler"),
        boa.env.generate_address("pharmacy"),
        boa.env.generate_address("stranger"),
    )


def _commission(
    world: World, serials: list[str], lot: str = "LOT1", gtin_: str = GTIN, expiry: int = EXPIRY
) -> list[bytes]:
    with boa.env.prank(world.maker):
        world.supply.commission(int(gtin_), lot, expiry, serials)
    return [pack_key(gtin_, s) for s in serials]


def _events(world: World, name: str) -> list[Any]:
    return [e for e in world.supply.get_logs() if type(e).__name__ == name]


def _topics(world: World) -> list[tuple[int, ...]]:
    """The raw topics of the last call's logs: what `eth_getLogs` filters on."""
    return [entry[2] for entry in world.supply._computation.get_raw_log_entries()]


def _word(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _ship(world: World, sender: Any, receiver: Any, items: list[bytes], shipment: bytes = b"s1") -> bytes:
    shipment_id = keccak(shipment)
    with boa.env.prank(sender):
        world.supply.ship(shipment_id, receiver, items)
    return shipment_id


def _receive(world: World, receiver: Any, items: list[bytes], shipment_id: bytes) -> None:
    with boa.env.prank(receiver):
        world.supply.receive(shipment_id, items)


# Keys ---------------------------------------------------------------------------------------------------------------


def test_keys_are_the_same_in_python_and_on_chain(world: World) -> None:
    assert world.supply.pack_key(int(GTIN), "SERIAL-1") == pack_key(GTIN, "SERIAL-1")
    assert world.supply.lot_key(int(GTIN), "LOT1") == lot_key(GTIN, "LOT1")
    assert world.supply.container_key(106141410000000017) == container_key("106141410000000017")
    assert container_key("106141410000000017") != pack_key(GTIN, "106141410000000017")


@settings(max_examples=25, deadline=None)
@given(
    body=st.from_regex(r"\A[0-9]{13}\Z"),
    serial=st.text(
        alphabet="!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz",
        min_size=1,
        max_size=20,
    ),
)
def test_any_pack_key_is_the_same_in_python_and_on_chain(world: World, body: str, serial: str) -> None:
    """GS1's character set 82, any GTIN: the facade finds on chain the pack the contract stored."""
    assert world.supply.pack_key(int(gtin(body)), serial) == pack_key(gtin(body), serial)
    assert world.supply.lot_key(int(gtin(body)), serial) == lot_key(gtin(body), serial)


# Admission ----------------------------------------------------------------------------------------------------------


def test_a_regulator_admits_and_revokes_a_manufacturer(world: World) -> None:
    admission = world.supply.admission(world.maker)
    assert (admission.regulator, admission.company_prefix, admission.prefix_digits) == (world.regulator, 614141, 7)
    assert (admission.licence, admission.revoked) == (LICENCE, False)
    assert world.supply.is_admitted(world.maker)
    with boa.env.prank(world.regulator):
        world.supply.revoke_admission(world.maker)
    (event,) = _events(world, "AdmissionRevoked")
    assert (event.manufacturer, event.by) == (world.maker, world.regulator)
    assert not world.supply.is_admitted(world.maker)
    assert world.supply.admission(world.maker).revoked
    with boa.env.prank(world.maker), boa.reverts("supply: not admitted"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["A"])
    with boa.env.prank(world.regulator), boa.reverts("supply: not admitted"):
        world.supply.revoke_admission(world.maker)


def test_the_admitted_event_names_manufacturer_and_regulator(world: World) -> None:
    other = boa.env.generate_address("other maker")
    with boa.env.prank(world.regulator):
        world.supply.admit(other, 4012345, 7, LICENCE, _now() + 100)
    (event,) = _events(world, "Admitted")
    assert (event.manufacturer, event.regulator, event.company_prefix, event.prefix_digits) == (
        other,
        world.regulator,
        4012345,
        7,
    )
    assert _topics(world)[0][1:] == (int(other, 16), int(world.regulator, 16))


def test_only_a_regulator_admits_and_the_admin_grants_the_role(world: World) -> None:
    with boa.env.prank(world.stranger), boa.reverts("access_control: account is missing role"):
        world.supply.admit(world.stranger, int(PREFIX), 7, LICENCE, _now() + 100)
    with boa.env.prank(world.maker), boa.reverts("access_control: account is missing role"):
        world.supply.revoke_admission(world.maker)
    with boa.env.prank(world.regulator), boa.reverts("access_control: account is missing role"):
        world.supply.grantRole(world.supply.REGULATOR_ROLE(), world.stranger)
    assert world.supply.hasRole(world.supply.DEFAULT_ADMIN_ROLE(), world.admin)


@pytest.mark.parametrize(
    ("prefix", "digits", "licence", "expires_in", "reason"),
    [
        (614141, 3, LICENCE, 100, "supply: a company prefix has 4 to 12 digits"),
        (614141, 13, LICENCE, 100, "supply: a company prefix has 4 to 12 digits"),
        (12345678, 7, LICENCE, 100, "supply: company prefix longer than its digits"),
        (614141, 7, bytes(32), 100, "supply: no licence"),
        (614141, 7, LICENCE, 0, "supply: expiry in the past"),
    ],
)
def test_a_malformed_admission_is_refused(
    world: World, prefix: int, digits: int, licence: bytes, expires_in: int, reason: str
) -> None:
    with boa.env.prank(world.regulator), boa.reverts(reason):
        world.supply.admit(world.stranger, prefix, digits, licence, _now() + expires_in)


def test_an_expired_admission_commissions_nothing(world: World) -> None:
    with boa.env.prank(world.regulator):
        world.supply.admit(world.maker, int(PREFIX), 7, LICENCE, _now() + 60)
    boa.env.time_travel(seconds=61)
    with boa.env.prank(world.maker), boa.reverts("supply: not admitted"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["A"])


# Commissioning ------------------------------------------------------------------------------------------------------


def test_commission_stores_each_pack_active_with_its_lot(world: World) -> None:
    (key,) = _commission(world, ["SN-0001"])
    (event,) = _events(world, "Commissioned")
    assert (event.key, event.lot, event.manufacturer) == (key, lot_key(GTIN, "LOT1"), world.maker)
    assert _topics(world)[0][1:] == (_word(key), _word(lot_key(GTIN, "LOT1")), int(world.maker, 16))
    status = world.supply.status(key)
    assert (status.state, status.holder, status.manufacturer, status.receiver) == (
        ACTIVE,
        world.maker,
        world.maker,
        ZERO,
    )
    assert (status.lot, status.gtin, status.expiry, status.recalled) == (
        lot_key(GTIN, "LOT1"),
        int(GTIN),
        EXPIRY,
        False,
    )
    assert (status.container, status.reason, status.is_container) == (bytes(32), 0, False)
    lot = world.supply.lot(lot_key(GTIN, "LOT1"))
    assert (lot.manufacturer, lot.gtin, lot.expiry, lot.recalled) == (world.maker, int(GTIN), EXPIRY, False)


def test_an_unadmitted_company_commissions_nothing(world: World) -> None:
    with boa.env.prank(world.stranger), boa.reverts("supply: not admitted"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["A"])


def test_a_gtin_outside_the_company_prefix_is_refused(world: World) -> None:
    with boa.env.prank(world.maker), boa.reverts("supply: gtin outside the company prefix"):
        world.supply.commission(int(OTHER_GTIN), "LOT1", EXPIRY, ["A"])


def test_a_gtin_with_a_wrong_check_digit_is_refused(world: World) -> None:
    wrong = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    with boa.env.prank(world.maker), boa.reverts("supply: gtin check digit is wrong"):
        world.supply.commission(int(wrong), "LOT1", EXPIRY, ["A"])
    with boa.env.prank(world.maker), boa.reverts("supply: gtin is longer than 14 digits"):
        world.supply.commission(10**14, "LOT1", EXPIRY, ["A"])


def test_a_serial_commissioned_twice_is_refused(world: World) -> None:
    _commission(world, ["A", "B"])
    with boa.env.prank(world.maker), boa.reverts("supply: serial already commissioned"):
        world.supply.commission(int(GTIN), "LOT2", EXPIRY, ["C", "A"])
    with boa.env.prank(world.maker), boa.reverts("supply: serial already commissioned"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["D", "D"])
    with boa.env.prank(world.maker), boa.reverts("supply: empty serial"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, [""])


def test_a_lot_keeps_its_first_expiry_and_refuses_a_bad_date(world: World) -> None:
    _commission(world, ["A"])
    with boa.env.prank(world.maker), boa.reverts("supply: expiry differs from the lot's"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY - 1, ["B"])
    for bad in (20271301, 20270100, 19991231):
        with boa.env.prank(world.maker), boa.reverts("supply: expiry is not a YYYYMMDD date"):
            world.supply.commission(int(GTIN), "LOT9", bad, ["B"])
    with boa.env.prank(world.maker), boa.reverts("supply: no lot number"):
        world.supply.commission(int(GTIN), "", EXPIRY, ["B"])


def test_a_lot_is_its_first_manufacturers(world: World) -> None:
    _commission(world, ["A"])
    twin = boa.env.generate_address("same prefix")
    with boa.env.prank(world.regulator):
        world.supply.admit(twin, int(PREFIX), 7, LICENCE, _now() + 100)
    with boa.env.prank(twin), boa.reverts("supply: lot of another manufacturer"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["B"])


def test_commission_gas_per_pack_in_a_batch_of_250(world: World) -> None:
    _commission(world, [f"WARM-{i}" for i in range(2)])  # the lot opened, as in a running line
    serials = [f"SN-{i:06d}" for i in range(250)]
    with boa.env.prank(world.maker):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, serials)
    gas = world.supply._computation.get_gas_used()
    print(f"\nSupplyChain.commission: {gas:,} gas for 250 packs, {gas // 250:,} a pack (execution, no 21,000 base)")
    assert gas // 250 < 30_000


# Aggregation --------------------------------------------------------------------------------------------------------


def test_packs_packed_into_a_case_follow_its_custody(world: World) -> None:
    packs = _commission(world, ["A", "B"])
    case = container_key("106141410000000017")
    with boa.env.prank(world.maker):
        world.supply.pack(case, packs)
    events = _events(world, "Packed")
    assert [(e.child, e.container, e.by) for e in events] == [(p, case, world.maker) for p in packs]
    assert _topics(world)[0][1:] == (_word(packs[0]), _word(case), int(world.maker, 16))
    status = world.supply.status(packs[0])
    assert (status.container, status.holder, status.state) == (case, world.maker, ACTIVE)
    case_status = world.supply.status(case)
    assert (case_status.is_container, case_status.holder, case_status.lot) == (True, world.maker, bytes(32))
    shipment = _ship(world, world.maker, world.wholesaler, [case])
    moving = world.supply.status(packs[1])
    assert (moving.state, moving.holder, moving.receiver) == (IN_TRANSIT, world.maker, world.wholesaler)
    _receive(world, world.wholesaler, [case], shipment)
    arrived = world.supply.status(packs[1])
    assert (arrived.state, arrived.holder, arrived.receiver, arrived.container) == (
        ACTIVE,
        world.wholesaler,
        ZERO,
        case,
    )
    with boa.env.prank(world.wholesaler):
        world.supply.unpack(case, [packs[1]])
    (event,) = _events(world, "Unpacked")
    assert (event.child, event.container, event.by) == (packs[1], case, world.wholesaler)
    loose = world.supply.status(packs[1])
    assert (loose.container, loose.holder) == (bytes(32), world.wholesaler)


def test_custody_resolves_through_three_levels(world: World) -> None:
    (pack,) = _commission(world, ["A"])
    case, pallet, container = (container_key(f"10614141000000{n:04d}") for n in (1, 2, 3))
    with boa.env.prank(world.maker):
        world.supply.pack(case, [pack])
        world.supply.pack(pallet, [case])
        world.supply.pack(container, [pallet])
    shipment = _ship(world, world.maker, world.pharmacy, [container])
    status = world.supply.status(pack)
    assert (status.state, status.receiver, status.container) == (IN_TRANSIT, world.pharmacy, case)
    _receive(world, world.pharmacy, [container], shipment)
    assert world.supply.status(pack).holder == world.pharmacy
    fourth = container_key("106141410000000049")
    (other,) = _commission(world, ["B"])
    with boa.env.prank(world.maker):
        world.supply.pack(fourth, [other])
    with boa.env.prank(world.pharmacy), boa.reverts("supply: containers nest at most 3 deep"):
        world.supply.pack(container_key("106141410000000056"), [container])


def test_packing_refusals(world: World) -> None:
    a, b = _commission(world, ["A", "B"])
    case = container_key("106141410000000017")
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.pack(case, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.pack(case, [pack_key(GTIN, "never")])
    with boa.env.prank(world.maker), boa.reverts("supply: not a container"):
        world.supply.pack(a, [b])
    with boa.env.prank(world.maker), boa.reverts("supply: nothing to pack"):
        world.supply.pack(case, [])
    with boa.env.prank(world.maker):
        world.supply.pack(case, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: packed in a container"):
        world.supply.pack(container_key("106141410000000024"), [a])
    with boa.env.prank(world.maker), boa.reverts("supply: a container cannot hold itself"):
        world.supply.pack(case, [case])
    with boa.env.prank(world.maker), boa.reverts("supply: not packed in that container"):
        world.supply.unpack(case, [b])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.unpack(case, [a])
    _ship(world, world.maker, world.wholesaler, [case])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.unpack(case, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.pack(case, [b])


# Shipments ----------------------------------------------------------------------------------------------------------


def test_ship_and_receive_move_custody_with_indexed_events(world: World) -> None:
    packs = _commission(world, ["A", "B"])
    shipment = _ship(world, world.maker, world.wholesaler, packs)
    shipped = _events(world, "Shipped")
    assert [(e.shipment, e.item, e.sender, e.receiver) for e in shipped] == [
        (shipment, p, world.maker, world.wholesaler) for p in packs
    ]
    assert _topics(world)[0][1:] == (_word(shipment), _word(packs[0]), int(world.maker, 16))
    record = world.supply.shipment(shipment)
    assert (record.sender, record.receiver, record.items_hash, record.open) == (
        world.maker,
        world.wholesaler,
        items_hash(packs),
        True,
    )
    _receive(world, world.wholesaler, packs, shipment)
    received = _events(world, "Received")
    assert [(e.shipment, e.item, e.receiver) for e in received] == [(shipment, p, world.wholesaler) for p in packs]
    assert _topics(world)[0][1:] == (_word(shipment), _word(packs[0]), int(world.wholesaler, 16))
    assert not world.supply.shipment(shipment).open
    assert world.supply.status(packs[0]).holder == world.wholesaler
    onward = _ship(world, world.wholesaler, world.pharmacy, packs, b"s2")
    _receive(world, world.pharmacy, packs, onward)
    assert world.supply.status(packs[1]).holder == world.pharmacy


def test_receive_refusals(world: World) -> None:
    packs = _commission(world, ["A", "B"])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: no such shipment"):
        world.supply.receive(keccak(b"never shipped"), packs)
    shipment = _ship(world, world.maker, world.wholesaler, packs)
    with boa.env.prank(world.pharmacy), boa.reverts("supply: not the receiver"):
        world.supply.receive(shipment, packs)
    with boa.env.prank(world.wholesaler), boa.reverts("supply: items differ from the shipment's"):
        world.supply.receive(shipment, packs[:1])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: items differ from the shipment's"):
        world.supply.receive(shipment, packs[::-1])
    _receive(world, world.wholesaler, packs, shipment)
    with boa.env.prank(world.wholesaler), boa.reverts("supply: shipment already received"):
        world.supply.receive(shipment, packs)


def test_ship_refusals(world: World) -> None:
    a, b = _commission(world, ["A", "B"])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.ship(keccak(b"x"), world.pharmacy, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: ship to someone else"):
        world.supply.ship(keccak(b"x"), world.maker, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: nothing to ship"):
        world.supply.ship(keccak(b"x"), world.pharmacy, [])
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.ship(keccak(b"x"), world.pharmacy, [pack_key(GTIN, "never")])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):  # listed twice
        world.supply.ship(keccak(b"x"), world.pharmacy, [a, a])
    shipment = _ship(world, world.maker, world.wholesaler, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: shipment id already used"):
        world.supply.ship(shipment, world.pharmacy, [b])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.ship(keccak(b"again"), world.pharmacy, [a])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: in transit"):  # shipped here, never received
        world.supply.ship(keccak(b"skip"), world.pharmacy, [a])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: in transit"):
        world.supply.decommission([a], DISPENSED)
    case = container_key("106141410000000017")
    with boa.env.prank(world.maker):
        world.supply.pack(case, [b])
    with boa.env.prank(world.maker), boa.reverts("supply: packed in a container"):
        world.supply.ship(keccak(b"loose"), world.pharmacy, [b])


# Decommissioning ----------------------------------------------------------------------------------------------------


def test_a_pack_is_decommissioned_once_by_its_holder(world: World) -> None:
    (pack,) = _commission(world, ["A"])
    shipment = _ship(world, world.maker, world.pharmacy, [pack])
    _receive(world, world.pharmacy, [pack], shipment)
    with boa.env.prank(world.maker), boa.reverts("supply: not the holder"):
        world.supply.decommission([pack], DISPENSED)
    with boa.env.prank(world.pharmacy):
        world.supply.decommission([pack], DISPENSED)
    gas = world.supply._computation.get_gas_used()
    print(f"\nSupplyChain.decommission: {gas:,} gas for one pack (execution, no 21,000 base)")
    (event,) = _events(world, "Decommissioned")
    assert (event.key, event.holder, event.reason) == (pack, world.pharmacy, DISPENSED)
    assert _topics(world)[0][1:] == (_word(pack), int(world.pharmacy, 16))
    status = world.supply.status(pack)
    assert (status.state, status.holder, status.reason, status.lot) == (
        DECOMMISSIONED,
        world.pharmacy,
        DISPENSED,
        lot_key(GTIN, "LOT1"),
    )
    for refused in (
        lambda: world.supply.decommission([pack], DESTROYED),
        lambda: world.supply.ship(keccak(b"again"), world.wholesaler, [pack]),
        lambda: world.supply.pack(container_key("106141410000000017"), [pack]),
    ):
        with boa.env.prank(world.pharmacy), boa.reverts("supply: already decommissioned"):
            refused()


def test_decommission_refusals(world: World) -> None:
    (pack,) = _commission(world, ["A"])
    case = container_key("106141410000000017")
    with boa.env.prank(world.maker), boa.reverts("supply: unknown reason"):
        world.supply.decommission([pack], 4)
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.decommission([pack_key(GTIN, "never")], OTHER)
    with boa.env.prank(world.maker):
        world.supply.pack(case, [pack])
    with boa.env.prank(world.maker), boa.reverts("supply: not a pack"):
        world.supply.decommission([case], DESTROYED)
    with boa.env.prank(world.maker):
        world.supply.decommission([pack], DESTROYED)  # the custody holder, from inside its case
    status = world.supply.status(pack)
    assert (status.state, status.container, status.reason) == (DECOMMISSIONED, bytes(32), DESTROYED)


# Recalls ------------------------------------------------------------------------------------------------------------


def test_the_lots_manufacturer_recalls_and_every_pack_reads_recalled(world: World) -> None:
    packs = _commission(world, ["A", "B"])
    with boa.env.prank(world.maker):
        world.supply.recall(int(GTIN), "LOT1")
    (event,) = _events(world, "LotRecalled")
    assert (event.lot, event.gtin, event.by) == (lot_key(GTIN, "LOT1"), int(GTIN), world.maker)
    assert _topics(world)[0][1:] == (_word(lot_key(GTIN, "LOT1")), int(GTIN), int(world.maker, 16))
    assert all(world.supply.status(p).recalled for p in packs)
    with boa.env.prank(world.maker), boa.reverts("supply: lot already recalled"):
        world.supply.recall(int(GTIN), "LOT1")
    with boa.env.prank(world.maker), boa.reverts("supply: lot recalled"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["C"])


def test_a_regulator_may_recall_and_nobody_else(world: World) -> None:
    _commission(world, ["A"])
    with boa.env.prank(world.pharmacy), boa.reverts("supply: not the lot's manufacturer"):
        world.supply.recall(int(GTIN), "LOT1")
    with boa.env.prank(world.maker), boa.reverts("supply: no such lot"):
        world.supply.recall(int(GTIN), "LOT2")
    with boa.env.prank(world.regulator):
        world.supply.recall(int(GTIN), "LOT1")
    assert world.supply.lot(lot_key(GTIN, "LOT1")).recalled


def test_an_unknown_key_has_an_empty_status(world: World) -> None:
    status = world.supply.status(pack_key(GTIN, "never"))
    assert (status.state, status.holder, status.lot) == (0, ZERO, bytes(32))


def test_empty_parties_and_ids_are_refused(world: World) -> None:
    (pack,) = _commission(world, ["A"])
    with boa.env.prank(world.regulator), boa.reverts("supply: no manufacturer"):
        world.supply.admit(ZERO, int(PREFIX), 7, LICENCE, _now() + 100)
    with boa.env.prank(world.regulator), boa.reverts("supply: expiry too far"):
        world.supply.admit(world.stranger, int(PREFIX), 7, LICENCE, 2**48)
    with boa.env.prank(world.maker), boa.reverts("supply: no shipment id"):
        world.supply.ship(bytes(32), world.pharmacy, [pack])
    with boa.env.prank(world.maker), boa.reverts("supply: ship to someone else"):
        world.supply.ship(keccak(b"x"), ZERO, [pack])
    with boa.env.prank(world.maker), boa.reverts("supply: no container"):
        world.supply.pack(bytes(32), [pack])
