"""Shipping notices across a supply network: the manufacturer's notice reaches the wholesaler's node over HTTP by
itself (kept and sent again while that node has no endpoint), names what it receives and the packs inside its cases
and pallet (a stale packing event left out); the wholesaler forwards the pallet, with the manufacturer's packing
events, to pharmacy A, whose stock then holds the packs inside, each flagged when their lot is recalled."""

from __future__ import annotations

import time

from careledger.node import Node
from careledger.supplychain import RECALLED, EventQuery
from careledger.supplychain._notices import MAX_WAIT
from tests.api.supply import reachable
from tests.supplychain.conftest import SupplyNetwork


def _held(node: Node) -> int:
    return len(node.supply.events(EventQuery(per_page=1000)).events)


def test_a_notice_arrives_by_itself_names_the_packs_inside_and_a_recall_flags_them(
    supply_network: SupplyNetwork,
) -> None:
    net = supply_network
    m, w, a = net.manufacturer, net.wholesaler, net.pharmacy_a
    packs = net.commission(6, lot="N1")
    case, stale, pallet = net.case(), net.case(), net.case()
    m.supply.pack(case, packs[:3], by=m.address)
    m.supply.pack(pallet, [case], by=m.address)
    m.supply.pack(stale, packs[3:5], by=m.address)
    m.supply.unpack(stale, [packs[4]], by=m.address)  # its packing event no longer says what is inside

    shipment = m.supply.ship([pallet, stale, packs[4]], w.address, by=m.address)
    waiting = m.supply.notices.waiting(shipment)
    assert waiting is not None
    assert waiting.startswith(f"notice waiting for {w.address}: ")
    assert "no node endpoint" in waiting
    with reachable(w):
        assert m.supply.notices.retry() == 0  # not due yet: it waits a minute, then twice as long each time
        assert m.supply.notices.retry(at=time.time() + MAX_WAIT) == 1
        assert m.supply.notices.waiting(shipment) is None
        held = _held(w)
        again = w.supply.accept_notice(m.supply.notice(shipment))  # delivered twice: nothing doubled
        assert (again["stored"], _held(w)) == (False, held)

    received = w.supply.receive(shipment, by=w.address)  # no scans, no file: the notice names them
    assert [item["epc"] for item in received] == [pallet.epc, stale.epc, packs[4].epc]
    inside = EventQuery(match_parent_id=(pallet.epc, case.epc, stale.epc), biz_steps=("packing",))
    packings = w.supply.events(inside).events
    assert {e["parentID"] for e in packings} == {pallet.epc, case.epc}  # the stale one left out
    assert {e["careledger:signer"] for e in packings} == {m.address}

    onward = w.supply.ship([pallet], a.address, by=w.address)  # cases it never packed, forwarded
    notice = w.supply.notice(onward)
    signers = [e["careledger:signer"] for e in notice["epcisBody"]["eventList"]]
    assert signers == [w.address, m.address, m.address]  # its shipping event, the packer's packing events
    assert a.supply.accept_notice(notice)["stored"] is True
    a.supply.receive(onward, by=a.address)
    shelf = {item.pack.serial: item for item in a.dispensary.stock(by=a.address)}
    assert {p.serial for p in packs[:3]} <= set(shelf)  # known by serial inside the case inside the pallet

    a.dispensary.follow_recalls()  # the cursor at the head before the recall
    m.dispensary.recall(net.gtin, "N1", by=m.address)
    assert a.dispensary.follow_recalls() == 1
    flagged = {item.pack.serial: item.flags for item in a.dispensary.stock(by=a.address, flagged_only=True)}
    assert {p.serial for p in packs[:3]} <= set(flagged)
    assert all(RECALLED in flagged[p.serial] for p in packs[:3])
