"""Verify at dispense, the rules alone: each refusal from what the chain says of a pack and what the pharmacy
knows, in the words a pharmacist acts on, the gravest first; and ok only when every rule lets the pack go."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from careledger.chain import PackState, PackStatus, Reason, lot_key, pack_key
from careledger.supplychain import Pack
from careledger.supplychain._verdict import CODES, Known, judge, status_json

HERE = "0x" + "a1" * 20
WHOLESALER = "0x" + "b2" * 20
OTHER_PHARMACY = "0x" + "c3" * 20
MAKER = "0x" + "d4" * 20
GTIN = "09506000134352"
TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
PACK = Pack(GTIN, "S1", "L123", date(2027, 1, 31))
HELD = PackStatus(
    key=pack_key(GTIN, "S1"),
    state=PackState.ACTIVE,
    holder=HERE,
    receiver=None,
    manufacturer=MAKER,
    lot=lot_key(GTIN, "L123"),
    expiry=date(2027, 1, 31),
    recalled=False,
    container=None,
    reason=None,
    gtin=GTIN,
)
KNOWN = Known(here=HERE, today=TODAY)


def test_a_pack_held_here_in_date_and_unflagged_may_be_dispensed() -> None:
    verdict = judge(PACK, HELD, KNOWN, NOW)
    assert (verdict.dispensable, verdict.code) == (True, "ok")
    assert "expires 2027-01-31" in verdict.reason
    assert verdict.status["state"] == "active"
    assert verdict.status["holder"] == HERE
    assert verdict.to_json()["pack"]["epc"] == f"https://id.gs1.org/01/{GTIN}/21/S1"


def test_the_status_is_spelt_once_as_cbv_spells_dispositions() -> None:
    moving = replace(HELD, state=PackState.IN_TRANSIT, holder=WHOLESALER, receiver=HERE, container=b"\x01" * 32)
    assert status_json(moving) == {
        "key": "0x" + pack_key(GTIN, "S1").hex(),
        "state": "in_transit",
        "holder": WHOLESALER,
        "receiver": HERE,
        "manufacturer": MAKER,
        "gtin": GTIN,
        "lot": "0x" + lot_key(GTIN, "L123").hex(),
        "expiry": "2027-01-31",
        "recalled": False,
        "container": "0x" + "01" * 32,
        "reason": None,
    }
    gone = replace(HELD, state=PackState.DECOMMISSIONED, reason=Reason.DISPENSED)
    assert (status_json(gone)["state"], status_json(gone)["reason"]) == ("decommissioned", "dispensed")


def test_a_pack_in_a_case_held_here_may_be_dispensed() -> None:
    assert judge(PACK, replace(HELD, container=b"\x01" * 32), KNOWN, NOW).code == "ok"


@pytest.mark.parametrize(
    ("status", "known", "pack", "code", "said"),
    [
        (
            PackStatus(pack_key(GTIN, "S1"), PackState.UNKNOWN, None, None, None, None, None, False, None, None),
            KNOWN,
            PACK,
            "unknown-serial",
            "unknown serial: no manufacturer commissioned serial S1",
        ),
        (HELD, replace(KNOWN, admitted=lambda _m: False), PACK, "not-admitted", "not commissioned by an admitted"),
        (HELD, KNOWN, replace(PACK, lot="L999"), "lot-mismatch", "the barcode's lot L999 is not the lot"),
        (HELD, KNOWN, replace(PACK, expiry=date(2028, 1, 31)), "expiry-mismatch", "expiry 2028-01-31 is not its lot's"),
        (
            replace(HELD, state=PackState.DECOMMISSIONED, holder=OTHER_PHARMACY, reason=Reason.DISPENSED),
            replace(KNOWN, decommissioned_on=lambda: date(2026, 5, 2)),
            PACK,
            "already-dispensed",
            f"cloned serial: this pack was dispensed at {OTHER_PHARMACY} on 2026-05-02",
        ),
        (
            HELD,
            replace(KNOWN, dispensed_here=datetime(2026, 5, 30, tzinfo=UTC)),
            PACK,
            "already-dispensed",
            f"cloned serial: this pack was dispensed here ({HERE}) on 2026-05-30",
        ),
        (
            replace(HELD, state=PackState.DECOMMISSIONED, reason=Reason.DESTROYED),
            KNOWN,
            PACK,
            "decommissioned",
            "decommissioned (destroyed) by",
        ),
        (replace(HELD, recalled=True), KNOWN, PACK, "recalled", "lot L123 recalled on chain"),
        (
            HELD,
            replace(KNOWN, recalled=f"recalled by its manufacturer ({MAKER}) in block 7"),
            PACK,
            "recalled",
            f"lot L123 recalled by its manufacturer ({MAKER}) in block 7",
        ),
        (HELD, replace(KNOWN, quarantined="torn seal"), PACK, "quarantined", "quarantined here: torn seal"),
        (
            replace(HELD, holder=WHOLESALER),
            KNOWN,
            PACK,
            "diverted",
            f"diverted: held by {WHOLESALER}, never received here",
        ),
        (
            replace(HELD, state=PackState.IN_TRANSIT, holder=WHOLESALER, receiver=OTHER_PHARMACY),
            KNOWN,
            PACK,
            "diverted",
            f"in transit from {WHOLESALER} to {OTHER_PHARMACY}, never received here",
        ),
        (
            replace(HELD, state=PackState.IN_TRANSIT, holder=WHOLESALER, receiver=HERE),
            KNOWN,
            PACK,
            "in-transit",
            "a custody step is missing: shipped to this node",
        ),
        (
            replace(HELD, expiry=date(2026, 5, 31)),
            KNOWN,
            replace(PACK, expiry=None),
            "expired",
            "expired on 2026-05-31",
        ),
    ],
)
def test_each_refusal_says_what_it_means(status: PackStatus, known: Known, pack: Pack, code: str, said: str) -> None:
    verdict = judge(pack, status, known, NOW)
    assert (verdict.dispensable, verdict.code) == (False, code)
    assert said in verdict.reason
    assert code in CODES


def test_a_pack_is_good_through_its_expiry_date() -> None:
    assert judge(PACK, HELD, replace(KNOWN, today=date(2027, 1, 31)), NOW).code == "ok"
    assert judge(PACK, HELD, replace(KNOWN, today=date(2027, 2, 1)), NOW).code == "expired"


def test_the_gravest_refusal_comes_first() -> None:
    """A recalled lot's pack held elsewhere and expired is told recalled: the recall is what the pharmacist must
    act on; a cloned serial is told before its recall."""
    everything = replace(HELD, holder=WHOLESALER, recalled=True, expiry=date(2026, 1, 1))
    assert judge(replace(PACK, expiry=None), everything, KNOWN, NOW).code == "recalled"
    cloned = replace(everything, state=PackState.DECOMMISSIONED, reason=Reason.DISPENSED)
    assert judge(replace(PACK, expiry=None), cloned, KNOWN, NOW).code == "already-dispensed"


def test_a_barcode_without_lot_or_expiry_is_judged_by_the_chains() -> None:
    bare = Pack(GTIN, "S1")
    assert judge(bare, HELD, KNOWN, NOW).code == "ok"
    assert "this pack's lot recalled" in judge(bare, replace(HELD, recalled=True), KNOWN, NOW).reason


def test_the_admission_and_the_decommission_day_are_asked_only_when_a_rule_needs_them() -> None:
    asked: list[str] = []

    def admitted(manufacturer: str) -> bool:
        asked.append(manufacturer)
        return True

    def decommissioned_on() -> date:
        raise AssertionError("a pack in stock has no decommission day to read")

    unknown = PackStatus(pack_key(GTIN, "S1"), PackState.UNKNOWN, None, None, None, None, None, False, None, None)
    watched = replace(KNOWN, admitted=admitted, decommissioned_on=decommissioned_on)
    assert judge(PACK, unknown, watched, NOW).code == "unknown-serial"
    assert asked == []
    assert judge(PACK, HELD, watched, NOW).code == "ok"
    assert asked == [MAKER]
