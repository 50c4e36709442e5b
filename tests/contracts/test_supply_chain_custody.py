"""SupplyChain.vy under titanoboa: packing packs into cases and pallets by their SSCCs, and decommissioning."""

from __future__ import annotations

import boa
import pytest
from eth_utils import keccak

from careledger.chain import container_key, lot_key, pack_key
from tests.contracts.supply import (
    ACTIVE,
    DECOMMISSIONED,
    DESTROYED,
    DISPENSED,
    GTIN,
    IN_TRANSIT,
    OTHER,
    ZERO,
    World,
    sscc,
    word,
    world_fixture,  # noqa: F401 - the `world` fixture
)

# Aggregation --------------------------------------------------------------------------------------------------------


def test_packs_packed_into_a_case_follow_its_custody(world: World) -> None:
    packs = world.commission(["A", "B"])
    case = container_key(sscc(1))
    world.pack(world.maker, sscc(1), packs)
    assert [(e.child, e.container, e.by) for e in world.events("Packed")] == [(p, case, world.maker) for p in packs]
    assert world.topics()[0][1:] == (word(packs[0]), word(case), int(world.maker, 16))
    status = world.supply.status(packs[0])
    assert (status.container, status.holder, status.state) == (case, world.maker, ACTIVE)
    case_status = world.supply.status(case)
    assert (case_status.is_container, case_status.holder, case_status.lot) == (True, world.maker, bytes(32))
    shipment = world.ship(world.maker, world.wholesaler, [case])
    moving = world.supply.status(packs[1])
    assert (moving.state, moving.holder, moving.receiver) == (IN_TRANSIT, world.maker, world.wholesaler)
    world.receive(world.wholesaler, [case], shipment)
    arrived = world.supply.status(packs[1])
    assert (arrived.state, arrived.holder, arrived.receiver, arrived.container) == (
        ACTIVE,
        world.wholesaler,
        ZERO,
        case,
    )
    with boa.env.prank(world.wholesaler):
        world.supply.unpack(int(sscc(1)), [packs[1]])
    (event,) = world.events("Unpacked")
    assert (event.child, event.container, event.by) == (packs[1], case, world.wholesaler)
    loose = world.supply.status(packs[1])
    assert (loose.container, loose.holder) == (bytes(32), world.wholesaler)


def test_custody_resolves_through_three_levels(world: World) -> None:
    (item,) = world.commission(["A"])
    case, pallet, container = (container_key(sscc(n)) for n in (1, 2, 3))
    world.pack(world.maker, sscc(1), [item])
    world.pack(world.maker, sscc(2), [case])
    world.pack(world.maker, sscc(3), [pallet])
    shipment = world.ship(world.maker, world.pharmacy, [container])
    status = world.supply.status(item)
    assert (status.state, status.receiver, status.container) == (IN_TRANSIT, world.pharmacy, case)
    world.receive(world.pharmacy, [container], shipment)
    assert world.supply.status(item).holder == world.pharmacy
    (other,) = world.commission(["B"])
    world.pack(world.maker, sscc(4), [other])
    with boa.reverts("supply: containers nest at most 3 deep"):
        world.pack(world.pharmacy, sscc(5), [container])


def test_no_key_is_squatted_as_a_container(world: World) -> None:
    """A container is created at its SSCC's key alone: a future serial's key cannot be taken to block it."""
    (held,) = world.commission(["S1"])
    future = pack_key(GTIN, "S2")
    with boa.reverts("supply: sscc is longer than 18 digits"):
        world.pack(world.maker, str(word(future)), [held])
    with boa.reverts("supply: sscc is longer than 18 digits"):
        world.pack(world.maker, str(10**18 + int(sscc(1))), [held])
    wrong = sscc(1)[:-1] + str((int(sscc(1)[-1]) + 1) % 10)
    with boa.reverts("supply: sscc check digit is wrong"):
        world.pack(world.maker, wrong, [held])
    assert world.supply.status(future).state == 0
    world.commission(["S2"])
    assert world.supply.status(future).state == ACTIVE
    world.pack(world.maker, "000000000000000000", [held])  # the smallest SSCC (check digit 0) is one
    assert world.supply.status(container_key("000000000000000000")).is_container


def test_packing_refusals(world: World) -> None:
    a, b = world.commission(["A", "B"])
    case = int(sscc(1))
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.pack(case, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.pack(case, [pack_key(GTIN, "never")])
    with boa.env.prank(world.maker), boa.reverts("supply: nothing to pack"):
        world.supply.pack(case, [])
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.unpack(case, [a])  # never packed into
    world.pack(world.maker, sscc(1), [a])
    with boa.env.prank(world.maker), boa.reverts("supply: packed in a container"):
        world.supply.pack(int(sscc(2)), [a])
    with boa.env.prank(world.maker), boa.reverts("supply: a container cannot hold itself"):
        world.supply.pack(case, [container_key(sscc(1))])
    with boa.env.prank(world.maker), boa.reverts("supply: not packed in that container"):
        world.supply.unpack(case, [b])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.unpack(case, [a])
    with boa.env.prank(world.wholesaler), boa.reverts("supply: not the holder"):
        world.supply.pack(case, [b])
    world.ship(world.maker, world.wholesaler, [container_key(sscc(1))])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.unpack(case, [a])
    with boa.env.prank(world.maker), boa.reverts("supply: in transit"):
        world.supply.pack(case, [b])


# Decommissioning ----------------------------------------------------------------------------------------------------


def test_a_pack_is_decommissioned_once_by_its_holder_in_a_block_it_keeps(world: World) -> None:
    (item,) = world.commission(["A"])
    shipment = world.ship(world.maker, world.pharmacy, [item])
    world.receive(world.pharmacy, [item], shipment)
    with boa.env.prank(world.maker), boa.reverts("supply: not the holder"):
        world.supply.decommission([item], DISPENSED)
    boa.env.evm.patch.block_number += 7
    with boa.env.prank(world.pharmacy):
        world.supply.decommission([item], DISPENSED)
    gas = world.supply._computation.get_gas_used()
    print(f"\nSupplyChain.decommission: {gas:,} gas for one pack (execution, no 21,000 base)")
    (event,) = world.events("Decommissioned")
    assert (event.key, event.holder, event.reason) == (item, world.pharmacy, DISPENSED)
    assert world.topics()[0][1:] == (word(item), int(world.pharmacy, 16))
    status = world.supply.status(item)
    assert (status.state, status.holder, status.reason, status.lot) == (
        DECOMMISSIONED,
        world.pharmacy,
        DISPENSED,
        lot_key(GTIN, "LOT1"),
    )
    assert status.decommissioned_in == boa.env.evm.patch.block_number
    for refused in (
        lambda: world.supply.decommission([item], DESTROYED),
        lambda: world.supply.ship(keccak(b"again"), world.wholesaler, [item]),
        lambda: world.supply.pack(int(sscc(1)), [item]),
    ):
        with boa.env.prank(world.pharmacy), boa.reverts("supply: already decommissioned"):
            refused()


def test_decommission_refusals(world: World) -> None:
    (item,) = world.commission(["A"])
    case = container_key(sscc(1))
    with boa.env.prank(world.maker), boa.reverts("supply: unknown reason"):
        world.supply.decommission([item], 4)
    with boa.env.prank(world.maker), boa.reverts("supply: unknown item"):
        world.supply.decommission([pack_key(GTIN, "never")], OTHER)
    world.pack(world.maker, sscc(1), [item])
    with boa.env.prank(world.maker), boa.reverts("supply: not a pack"):
        world.supply.decommission([case], DESTROYED)
    with boa.env.prank(world.maker):
        world.supply.decommission([item], DESTROYED)  # the custody holder, from inside its case
    status = world.supply.status(item)
    assert (status.state, status.container, status.reason) == (DECOMMISSIONED, bytes(32), DESTROYED)


@pytest.mark.parametrize(("reason", "allowed"), [(DISPENSED, False), (DESTROYED, True), (OTHER, True)])
def test_a_recalled_lots_pack_is_destroyed_not_dispensed(world: World, reason: int, allowed: bool) -> None:
    (item,) = world.commission(["A"])
    (fresh,) = world.commission(["B"], lot="LOT2")
    with boa.env.prank(world.maker):
        world.supply.recall(int(GTIN), "LOT1")
        world.supply.decommission([fresh], DISPENSED)  # another lot's pack: dispensed as ever
    with boa.env.prank(world.maker):
        if allowed:
            world.supply.decommission([item], reason)
        else:
            with boa.reverts("supply: lot recalled"):
                world.supply.decommission([item], reason)
    assert world.supply.status(item).state == (DECOMMISSIONED if allowed else ACTIVE)
