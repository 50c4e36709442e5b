"""SupplyChain.vy under titanoboa: keys, admissions and their company prefixes, commissioning into lots, recalls."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.chain import container_key, lot_key, pack_key
from tests.contracts.supply import (
    ACTIVE,
    EXPIRY,
    GTIN,
    LICENCE,
    OTHER_GTIN,
    PREFIX,
    ZERO,
    World,
    gtin,
    now,
    sscc,
    word,
    world_fixture,  # noqa: F401 - the `world` fixture
)

# Keys ---------------------------------------------------------------------------------------------------------------


def test_keys_are_the_same_in_python_and_on_chain(world: World) -> None:
    assert world.supply.pack_key(int(GTIN), "SERIAL-1") == pack_key(GTIN, "SERIAL-1")
    assert world.supply.lot_key(int(GTIN), "LOT1") == lot_key(GTIN, "LOT1")
    assert world.supply.container_key(int(sscc(1))) == container_key(sscc(1))
    assert container_key(sscc(1)) != pack_key(GTIN, sscc(1))


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


def _admit(world: World, manufacturer: Any, prefix: str, expires_in: int = 3_600) -> None:
    with boa.env.prank(world.regulator):
        world.supply.admit(manufacturer, int(prefix), len(prefix), LICENCE, now() + expires_in)


def _revoke(world: World, manufacturer: Any) -> None:
    with boa.env.prank(world.regulator):
        world.supply.revoke_admission(manufacturer)


def _overlaps(world: World, manufacturer: Any, prefix: str) -> None:
    with boa.reverts("supply: company prefix overlaps another manufacturer's"):
        _admit(world, manufacturer, prefix)


def test_a_regulator_admits_and_revokes_a_manufacturer(world: World) -> None:
    admission = world.supply.admission(world.maker)
    assert (admission.regulator, admission.company_prefix, admission.prefix_digits) == (world.regulator, 614141, 7)
    assert (admission.licence, admission.revoked) == (LICENCE, False)
    assert world.supply.is_admitted(world.maker)
    _revoke(world, world.maker)
    (event,) = world.events("AdmissionRevoked")
    assert (event.manufacturer, event.by) == (world.maker, world.regulator)
    assert not world.supply.is_admitted(world.maker)
    assert world.supply.admission(world.maker).revoked
    with boa.env.prank(world.maker), boa.reverts("supply: not admitted"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["A"])
    with boa.reverts("supply: not admitted"):
        _revoke(world, world.maker)


def test_the_admitted_event_names_manufacturer_and_regulator(world: World) -> None:
    other = boa.env.generate_address("other maker")
    _admit(world, other, "4012345", expires_in=100)
    (event,) = world.events("Admitted")
    assert (event.manufacturer, event.regulator, event.company_prefix, event.prefix_digits) == (
        other,
        world.regulator,
        4012345,
        7,
    )
    assert world.topics()[0][1:] == (int(other, 16), int(world.regulator, 16))


def test_only_a_regulator_admits_and_the_admin_grants_the_role(world: World) -> None:
    with boa.env.prank(world.stranger), boa.reverts("access_control: account is missing role"):
        world.supply.admit(world.stranger, int(PREFIX), 7, LICENCE, now() + 100)
    with boa.env.prank(world.maker), boa.reverts("access_control: account is missing role"):
        world.supply.revoke_admission(world.maker)
    with boa.env.prank(world.regulator), boa.reverts("access_control: account is missing role"):
        world.supply.grantRole(world.supply.REGULATOR_ROLE(), world.stranger)
    assert world.supply.hasRole(world.supply.DEFAULT_ADMIN_ROLE(), world.admin)


def test_a_regulator_may_not_admit_itself(world: World) -> None:
    with boa.reverts("supply: a regulator may not admit itself"):
        _admit(world, world.regulator, "4012345")


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
        world.supply.admit(world.stranger, prefix, digits, licence, now() + expires_in)


def test_an_expired_admission_commissions_nothing(world: World) -> None:
    _admit(world, world.maker, PREFIX, expires_in=60)  # a renewal: the same prefix, a new expiry
    boa.env.time_travel(seconds=61)
    with boa.env.prank(world.maker), boa.reverts("supply: not admitted"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["A"])


def test_no_prefix_extends_or_is_extended_by_another_manufacturers(world: World) -> None:
    """The maker holds 0614141: a twin may have neither it, nor a prefix inside it, nor one it lies inside."""
    twin = boa.env.generate_address("twin")
    for prefix in (PREFIX, PREFIX + "1", PREFIX + "12345", "061414", "0614"):
        _overlaps(world, twin, prefix)
    _admit(world, twin, "0614142")  # beside it, not inside it
    _overlaps(world, world.stranger, "06141420")
    with boa.env.prank(twin), boa.reverts("supply: gtin outside the company prefix"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["A"])
    _admit(world, world.maker, PREFIX + "1")  # the maker's admission replaced: 0614141 itself is free again …
    _overlaps(world, world.stranger, PREFIX)  # … but for the maker's new prefix, which extends it
    _admit(world, world.stranger, PREFIX + "2")


def test_a_prefix_extended_twice_is_free_once_both_are_revoked(world: World) -> None:
    first, second = boa.env.generate_address("first"), boa.env.generate_address("second")
    _revoke(world, world.maker)
    _admit(world, first, PREFIX + "1")
    _admit(world, second, PREFIX + "2")
    _overlaps(world, world.stranger, PREFIX)
    _revoke(world, first)
    _overlaps(world, world.stranger, PREFIX)  # the second still extends it
    _revoke(world, second)
    _admit(world, world.stranger, PREFIX)
    assert world.supply.is_admitted(world.stranger)


def test_a_lapsed_admission_holds_its_prefix_until_it_is_revoked(world: World) -> None:
    boa.env.time_travel(seconds=366 * 86_400)
    assert not world.supply.is_admitted(world.maker)
    _overlaps(world, world.stranger, PREFIX)
    _revoke(world, world.maker)
    _admit(world, world.stranger, PREFIX)
    _overlaps(world, world.maker, PREFIX + "9")  # revoked, then asking again: the prefix is another's now


# Commissioning ------------------------------------------------------------------------------------------------------


def test_commission_stores_each_pack_active_with_its_lot(world: World) -> None:
    (key,) = world.commission(["SN-0001"])
    (event,) = world.events("Commissioned")
    assert (event.key, event.lot, event.manufacturer) == (key, lot_key(GTIN, "LOT1"), world.maker)
    assert world.topics()[0][1:] == (word(key), word(lot_key(GTIN, "LOT1")), int(world.maker, 16))
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
    assert (status.container, status.reason, status.is_container, status.decommissioned_in) == (bytes(32), 0, False, 0)
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
    world.commission(["A", "B"])
    with boa.env.prank(world.maker), boa.reverts("supply: serial already commissioned"):
        world.supply.commission(int(GTIN), "LOT2", EXPIRY, ["C", "A"])
    with boa.env.prank(world.maker), boa.reverts("supply: serial already commissioned"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["D", "D"])
    with boa.env.prank(world.maker), boa.reverts("supply: empty serial"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, [""])


def test_a_lot_keeps_its_first_expiry_and_refuses_a_bad_date(world: World) -> None:
    world.commission(["A"])
    with boa.env.prank(world.maker), boa.reverts("supply: expiry differs from the lot's"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY - 1, ["B"])
    with boa.env.prank(world.maker), boa.reverts("supply: no lot number"):
        world.supply.commission(int(GTIN), "", EXPIRY, ["B"])


@pytest.mark.parametrize(
    "expiry", [20270230, 20270431, 20270229, 21000229, 20270631, 20271301, 20270100, 20270132, 19991231, 2**32 - 1]
)
def test_an_expiry_no_calendar_has_is_refused(world: World, expiry: int) -> None:
    with boa.env.prank(world.maker), boa.reverts("supply: expiry is not a YYYYMMDD date"):
        world.supply.commission(int(GTIN), "LOT9", expiry, ["B"])


def test_every_day_of_a_leap_year_is_an_expiry(world: World) -> None:
    for n, expiry in enumerate((20280229, 20000229, 20270228, 20270430, 20270131, 99991231)):
        world.commission([f"S{n}"], lot=f"LOT-{n}", expiry=expiry)
        assert world.supply.lot(lot_key(GTIN, f"LOT-{n}")).expiry == expiry


def test_a_lot_is_its_first_manufacturers(world: World) -> None:
    world.commission(["A"])
    twin = boa.env.generate_address("the prefix's next holder")
    with boa.env.prank(world.regulator):
        world.supply.revoke_admission(world.maker)
        world.supply.admit(twin, int(PREFIX), 7, LICENCE, now() + 100)
    with boa.env.prank(twin), boa.reverts("supply: lot of another manufacturer"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["B"])


def test_commission_gas_per_pack_in_a_batch_of_250(world: World) -> None:
    world.commission([f"WARM-{i}" for i in range(2)])  # the lot opened, as in a running line
    serials = [f"SN-{i:06d}" for i in range(250)]
    with boa.env.prank(world.maker):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, serials)
    gas = world.supply._computation.get_gas_used()
    print(f"\nSupplyChain.commission: {gas:,} gas for 250 packs, {gas // 250:,} a pack (execution, no 21,000 base)")
    assert gas // 250 < 30_000


# Recalls ------------------------------------------------------------------------------------------------------------


def test_the_lots_manufacturer_recalls_and_every_pack_reads_recalled(world: World) -> None:
    packs = world.commission(["A", "B"])
    with boa.env.prank(world.maker):
        world.supply.recall(int(GTIN), "LOT1")
    (event,) = world.events("LotRecalled")
    assert (event.lot, event.gtin, event.by) == (lot_key(GTIN, "LOT1"), int(GTIN), world.maker)
    assert world.topics()[0][1:] == (word(lot_key(GTIN, "LOT1")), int(GTIN), int(world.maker, 16))
    assert all(world.supply.status(p).recalled for p in packs)
    with boa.env.prank(world.maker), boa.reverts("supply: lot already recalled"):
        world.supply.recall(int(GTIN), "LOT1")
    with boa.env.prank(world.maker), boa.reverts("supply: lot recalled"):
        world.supply.commission(int(GTIN), "LOT1", EXPIRY, ["C"])


def test_a_regulator_may_recall_and_nobody_else(world: World) -> None:
    world.commission(["A"])
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


def test_empty_parties_are_refused(world: World) -> None:
    with boa.env.prank(world.regulator), boa.reverts("supply: no manufacturer"):
        world.supply.admit(ZERO, int(PREFIX), 7, LICENCE, now() + 100)
    with boa.env.prank(world.regulator), boa.reverts("supply: expiry too far"):
        world.supply.admit(world.stranger, int(PREFIX), 7, LICENCE, 2**48)
