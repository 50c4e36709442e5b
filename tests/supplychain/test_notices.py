"""Shipping notices across a supply network: the manufacturer's notice reaches the wholesaler's node over HTTP by
itself (kept and sent again while that node has no endpoint), names what it receives and the packs inside its cases
and pallet, with their signed history; the wholesaler forwards the pallet, with the manufacturer's events, to
pharmacy A, whose stock then holds the packs inside, each flagged when their lot is recalled. A notice that does not
hold is refused and audited, a stranger's as `anonymous`."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from careledger.audit import ANONYMOUS, Outcome
from careledger.errors import Conflict, ValidationError
from careledger.supplychain import OPERATOR, RECALLED, EventQuery, document
from careledger.supplychain._notices import MAX_WAIT
from tests.api.supply import reachable
from tests.supplychain.conftest import SupplyNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "testdata" / "epcis"


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
        held = SupplyNetwork.held(w)
        again = w.supply.accept_notice(m.supply.notice(shipment, by=OPERATOR))  # delivered twice: nothing doubled
        assert (again["stored"], SupplyNetwork.held(w)) == (False, held)

    received = w.supply.receive(shipment, by=w.address)  # no scans, no file: the notice names them
    assert [item["epc"] for item in received] == [pallet.epc, stale.epc, packs[4].epc]
    inside = EventQuery(match_parent_id=(pallet.epc, case.epc, stale.epc), biz_steps=("packing", "unpacking"))
    packings = w.supply.events(inside, by=w.address).events
    steps = [(e["bizStep"], e["parentID"]) for e in packings]  # the history of each, stale packings included
    assert steps == [("packing", case.epc), ("packing", pallet.epc), ("packing", stale.epc), ("unpacking", stale.epc)]
    assert {e["careledger:signer"] for e in packings} == {m.address}
    commissioned = w.supply.events(EventQuery(match_epc=(packs[0].epc,), biz_steps=("commissioning",)), by=OPERATOR)
    assert [e["careledger:signer"] for e in commissioned.events] == [m.address]

    onward = w.supply.ship([pallet], a.address, by=w.address)  # cases it never packed, forwarded
    notice = w.supply.notice(onward, by=OPERATOR)
    signed = [(e["bizStep"], e["careledger:signer"]) for e in notice["epcisBody"]["eventList"]]
    assert signed[0] == ("shipping", w.address)  # its own shipping event first, then the pallet's history
    assert signed[1:] == [
        ("commissioning", m.address),
        ("packing", m.address),
        ("packing", m.address),
        ("shipping", m.address),
        ("receiving", w.address),
    ]
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


def test_a_notice_that_does_not_hold_is_refused_and_audited(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m, w = net.manufacturer, net.wholesaler
    packs, stray = net.commission(2), net.commission(1)
    shipment = m.supply.ship(packs, w.address, by=m.address)
    notice = m.supply.notice(shipment, by=OPERATOR)
    events = notice["epcisBody"]["eventList"]

    for stranger in ({}, json.loads((EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld").read_text())):
        with pytest.raises(ValidationError):
            w.supply.accept_notice(stranger)
        entry = SupplyNetwork.audited(w, "supply.notice")
        assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, ANONYMOUS)  # never a claimed address

    tampered = copy.deepcopy(notice)
    tampered["epcisBody"]["eventList"][1]["ilmd"]["cbvmda:lotNumber"] = "L2"  # the history, altered after signing
    with pytest.raises(ValidationError, match=events[1]["eventID"]):
        w.supply.accept_notice(tampered)
    (unrelated,) = m.supply.events(EventQuery(match_epc=(stray[0].epc,)), by=OPERATOR).events
    with pytest.raises(ValidationError, match="not about what shipment"):
        w.supply.accept_notice(document([*events, unrelated]))
    assert (
        SupplyNetwork.audited(w, "supply.notice").access.agent == m.address
    )  # its signatures held: its shipper's refusal

    assert w.supply.accept_notice(notice)["stored"] is True
    w.supply.receive(shipment, by=w.address)
    with pytest.raises(Conflict, match="already received"):
        w.supply.accept_notice(notice)  # delivered again after the goods were received
