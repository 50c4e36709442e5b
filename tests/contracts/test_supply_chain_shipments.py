"""SupplyChain.vy under titanoboa: shipments, received only by their receiver, with the items they were shipped with."""

from __future__ import annotations

import boa
from eth_utils import keccak

from careledger.chain import container_key, items_hash, pack_key
from tests.contracts.supply import (
    DISPENSED,
    GTIN,
    ZERO,
    World,
    sscc,
    word,
    world_fixture,  # noqa: F401 - the `world` fixture
)


def test_ship_and_receive_move_custody_with_indexed_events(world: World) -> None:
    packs = world.commission(["A", "B"])
    boa.env.evm.patch.block_number += 3
    shipment = world.ship(world.maker, world.wholesaler, packs)
    shipped = world.events("Shipped")
    assert [(e.shipment, e.item, e.sender, e.receiver) for e in shipped] == [
        (shipment, p, world.maker, world.wholesaler) for p in packs
    ]
    assert world.topics()[0][1:] == (word(shipment), word(packs[0]), int(world.maker, 16))
    record = world.supply.shipment(shipment)
    assert (record.sender, record.receiver, record.items_hash, record.open, record.shipped_in) == (
        world.maker,
        world.wholesaler,
        items_hash(packs),
        True,
        boa.env.evm.patch.block_number,
    )
    boa.env.evm.patch.block_number += 1
    world.receive(world.wholesaler, packs, shipment)
    received = world.events("Received")
    assert [(e.shipment, e.item, e.receiver) for e in received] == [(shipment, p, world.wholesaler) for p in packs]
    assert world.topics()[0][1:] == (word(shipment), word(packs[0]), int(world.wholesaler, 16))
    closed = world.supply.shipment(shipment)
    assert (closed.open, closed.shipped_in) == (False, record.shipped_in)  # its block kept once received
    assert world.supply.status(packs[0]).holder == world.wholesaler
    onward = world.ship(world.wholesaler, world.pharmacy, packs, b"s2")
    world.receive(world.pharmacy, packs, onward)
    assert world.supply.status(packs[1]).holder == world.pharmacy


def test_receive_refusals(world: World) -> None:
    packs = world.commission(["A", "B"])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: no such shipment"):
        world.supply.receive(keccak(b"never shipped"), packs)
    shipment = world.ship(world.maker, world.wholesaler, packs)
    with boa.env.prank(world.pharmacy), boa.reverts("supply: not the receiver"):
        world.supply.receive(shipment, packs)
    with boa.env.prank(world.maker), boa.reverts("supply: not the receiver"):
        world.supply.receive(shipment, packs)  # nor its sender
    with boa.env.prank(world.wholesaler), boa.reverts("supply: items differ from the shipment's"):
        world.supply.receive(shipment, packs[:1])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: items differ from the shipment's"):
        world.supply.receive(shipment, packs[::-1])
    world.receive(world.wholesaler, packs, shipment)
    with boa.env.prank(world.wholesaler), boa.reverts("supply: shipment already received"):
        world.supply.receive(shipment, packs)
    assert world.supply.shipment(keccak(b"never shipped")).sender == ZERO


def test_ship_refusals(world: World) -> None:
    a, b = world.commission(["A", "B"])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.ship(keccak(b"x"), world.pharmacy, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: ship to someone else"):
        world.supply.ship(keccak(b"x"), world.maker, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: ship to someone else"):
        world.supply.ship(keccak(b"x"), ZERO, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: no shipment id"):
        world.supply.ship(bytes(32), world.pharmacy, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: nothing to ship"):
        world.supply.ship(keccak(b"x"), world.pharmacy, [])
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.ship(keccak(b"x"), world.pharmacy, [pack_key(GTIN, "never")])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):  # listed twice
        world.supply.ship(keccak(b"x"), world.pharmacy, [a, a])
    shipment = world.ship(world.maker, world.wholesaler, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: shipment id already used"):
        world.supply.ship(shipment, world.pharmacy, [b])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.ship(keccak(b"again"), world.pharmacy, [a])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: in transit"):  # shipped here, never received
        world.supply.ship(keccak(b"skip"), world.pharmacy, [a])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: in transit"):
        world.supply.decommission([a], DISPENSED)
    world.pack(world.maker, sscc(1), [b])
    with boa.env.prank(world.maker), boa.reverts("supply: packed in a container"):
        world.supply.ship(keccak(b"loose"), world.pharmacy, [b])
    case = container_key(sscc(1))
    shipped_case = world.ship(world.maker, world.wholesaler, [case], b"case")
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.decommission([b], DISPENSED)  # inside a case in transit
    world.receive(world.wholesaler, [case], shipped_case)
