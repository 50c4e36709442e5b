"""`node.supply` across a supply network: capture (GS1's examples, the node's own events), chain effects, every
refusal (nothing stored, audited), anchoring and traces with their proofs."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from careledger.audit import Outcome
from careledger.chain import PackState, pack_key
from careledger.crypto import verify_proof
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.node import Node
from careledger.supplychain import EventQuery, Pack, document, party_uri, shipping, signer_of
from tests.supplychain.conftest import SupplyNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "testdata" / "epcis"


def _stored(node: Node) -> int:
    return len(node.supply.events(EventQuery(per_page=1000)).events)


def _last_audit(node: Node, action: str) -> Any:
    return next(e for e in node.audit.entries(newest_first=True, limit=50) if e.access.interaction == action)


def _status(node: Node, pack: Pack) -> Any:
    return node.contracts.supply_chain().status(pack_key(pack.gtin, pack.serial))


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.jsonld")))
def test_gs1_examples_are_captured_as_observations(supply_network: SupplyNetwork, name: str) -> None:
    node = supply_network.pharmacy_b
    body = json.loads((EXAMPLES / name).read_text())
    job = node.supply.capture(body, by=node.address)
    assert job.ok, job.errors
    for event_id in job.event_ids:
        stored = node.supply.store.event(event_id)
        assert stored.effect == "observation"
        assert stored.signer == node.address  # unsigned, so signed as this node
        served = node.supply.event(event_id)
        assert "recordTime" in served  # the time it was recorded here, outside what was signed
        assert signer_of(served, node.chain_id, node.contracts.supply_chain().address) == node.address
    entry = _last_audit(node, "supply.capture")
    assert entry.access.outcome == Outcome.SUCCESS
    assert entry.access.agent == node.address


def test_own_events_end_to_end(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m, w, a = net.manufacturer, net.wholesaler, net.pharmacy_a
    packs = net.commission(20)
    assert _status(m, packs[0]).holder == m.address
    cases = [net.case(), net.case()]
    m.supply.pack(cases[0], packs[:10], by=m.address)
    m.supply.pack(cases[1], packs[10:], by=m.address)
    net.transfer(m, w, cases)
    assert _status(w, packs[15]).holder == w.address  # custody followed the case
    w.supply.unpack(cases[0], packs[:10], by=w.address)
    net.transfer(w, a, packs[:3])
    assert [_status(a, pack).holder for pack in packs[:4]] == [a.address] * 3 + [w.address]
    received = a.supply.events(EventQuery.parse({"EQ_bizStep": "receiving"})).events
    assert {party_uri(a.chain_id, a.address)} == {e["destinationList"][0]["destination"] for e in received}


def test_a_receive_with_no_ship_is_refused_and_nothing_stored(supply_network: SupplyNetwork) -> None:
    net = supply_network
    w = net.wholesaler
    packs = net.commission(2)
    before = _stored(w)
    event = shipping(packs, party_uri(w.chain_id, net.manufacturer.address), party_uri(w.chain_id, w.address), _uuid())
    event.update(bizStep="receiving", disposition="in_progress")
    job = w.supply.capture(document([event]), by=w.address)
    assert not job.ok
    assert job.errors == (f"{event['eventID']}: supply: no such shipment",)
    assert _stored(w) == before
    assert w.supply.capture_job(job.id, by=w.address) == job
    assert _last_audit(w, "supply.capture").access.outcome == Outcome.DENIED
    with pytest.raises(NotFound, match="no open shipment"):
        w.supply.receive(_uuid(), by=w.address)


def test_a_duplicate_event_id_is_refused(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m = net.manufacturer
    (event,) = m.supply.commission(net.packs(1), by=m.address)
    again = copy.deepcopy(event)
    again["eventTime"] = "2026-01-01T00:00:00.000+00:00"  # another event, under the same id
    again.pop("careledger:signature"), again.pop("careledger:signer")
    job = m.supply.capture(document([again]), by=m.address)
    assert job.errors == (f"{event['eventID']}: duplicate eventID: an event of that id was captured before",)
    replayed = m.supply.capture(document([event]), by=m.address)  # the very same signed event
    assert not replayed.ok


def test_a_forged_signature_is_refused_naming_the_event(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m, w = net.manufacturer, net.wholesaler
    (event,) = m.supply.commission(net.packs(1), by=m.address)
    forged = {**event, "eventID": "urn:uuid:00000000-0000-4000-8000-000000000001"}  # altered after signing
    before = _stored(w)
    with pytest.raises(ValidationError, match="urn:uuid:00000000-0000-4000-8000-000000000001"):
        w.supply.capture(document([forged]), by=w.address)
    assert _stored(w) == before
    assert _last_audit(w, "supply.capture").access.outcome == Outcome.DENIED


def test_a_commission_by_the_unadmitted_wholesaler_is_refused(supply_network: SupplyNetwork) -> None:
    net = supply_network
    w = net.wholesaler
    packs = net.packs(3)
    with pytest.raises(AccessDenied, match="supply: not admitted"):
        w.supply.commission(packs, by=w.address)
    assert _status(w, packs[0]).state == PackState.UNKNOWN
    assert "supply: not admitted" in (_last_audit(w, "supply.commission").access.detail or "")


def test_shipping_what_this_node_does_not_hold_is_refused(supply_network: SupplyNetwork) -> None:
    net = supply_network
    packs = net.commission(1)
    with pytest.raises(AccessDenied, match="not the holder"):
        net.wholesaler.supply.ship(packs, net.pharmacy_a.address, by=net.wholesaler.address)
    with pytest.raises(Conflict, match="serial already commissioned"):
        net.manufacturer.supply.commission(packs, by=net.manufacturer.address)


def test_a_document_is_judged_as_a_whole(supply_network: SupplyNetwork) -> None:
    """Commission, pack and ship in one document: each step sees the ones before it."""
    from careledger.supplychain import commissioning, packing

    net = supply_network
    m = net.manufacturer
    packs, case = net.packs(4), net.case()
    me, to = party_uri(m.chain_id, m.address), party_uri(m.chain_id, net.wholesaler.address)
    events = [commissioning(packs, me), packing(case, packs, me), shipping([case], me, to, _uuid())]
    job = m.supply.capture(document(events), by=m.address)
    assert job.ok, job.errors
    assert _status(m, packs[0]).state == PackState.IN_TRANSIT
    fresh = net.packs(1)
    refused = m.supply.capture(document([commissioning(fresh, me), shipping(packs, me, to, _uuid())]), by=m.address)
    assert not refused.ok
    assert "supply: in transit" in refused.errors[0]
    assert _status(m, fresh[0]).state == PackState.UNKNOWN  # all or nothing: the commissioning was not sent


def test_staff_act_and_strangers_are_refused_and_audited(supply_network: SupplyNetwork) -> None:
    net = supply_network
    a = net.pharmacy_a
    packs = net.commission(1)
    net.transfer(net.manufacturer, net.wholesaler, packs)
    shipment = net.wholesaler.supply.ship(packs, a.address, by=net.wholesaler.address)
    a.supply.capture(net.wholesaler.supply.notice(shipment), by=net.pharmacist)
    assert a.supply.receive(shipment, by=net.pharmacist)[0]["epc"] == packs[0].epc
    assert _last_audit(a, "supply.receive").access.agent == net.pharmacist
    assert a.supply.events(EventQuery(), by=net.pharmacist).events
    with pytest.raises(AccessDenied, match="not staff"):
        a.supply.events(EventQuery(), by=net.wholesaler.address)
    entry = _last_audit(a, "supply.read")
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, net.wholesaler.address)


def test_trace_shows_every_step_with_signatures_and_anchor_proofs(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m, w, a = net.manufacturer, net.wholesaler, net.pharmacy_a
    packs, case = net.commission(3), net.case()
    m.supply.pack(case, packs, by=m.address)
    net.transfer(m, w, [case])
    w.supply.unpack(case, packs, by=w.address)
    net.transfer(w, a, packs[:1])
    before = a.supply.trace(packs[0])
    assert all(step.anchor is None for step in before.steps)
    assert before.as_json()["steps"][-1]["anchor"] == "not yet anchored"
    for node in (m, w, a):
        node.supply_anchorer.anchor_pending()
    trace = a.supply.trace(packs[0])
    kinds = [(step.kind, step.actor) for step in trace.steps if step.tx]
    assert kinds == [
        ("commissioned", m.address),
        ("packed", m.address),
        ("shipped", m.address),
        ("received", w.address),
        ("unpacked", w.address),
        ("shipped", w.address),
        ("received", a.address),
    ]
    mine = [step for step in trace.steps if step.event_id]
    assert {step.kind for step in mine} >= {"shipped", "received"}
    for step in mine:
        assert step.signature_ok
        assert step.anchor is not None
        assert step.anchor.verified
        assert step.digest is not None
        siblings = [bytes.fromhex(s[2:]) for s in step.anchor.siblings]
        assert verify_proof(siblings, bytes.fromhex(step.anchor.root[2:]), bytes.fromhex(step.digest[2:]))
    others = [step for step in trace.steps if step.tx and not step.event_id]
    assert others
    assert all("does not hold the event" in step.note for step in others)
    assert trace.status["holder"] == a.address
    json.dumps(trace.as_json())


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def test_a_thousand_packs_are_commissioned_in_one_capture(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m = net.manufacturer
    packs = net.packs(1000)
    told: list[tuple[int, int]] = []
    started = time.perf_counter()
    (event,) = m.supply.commission(packs, by=m.address, progress=lambda done, total: told.append((done, total)))
    elapsed = time.perf_counter() - started
    print(f"1,000 packs commissioned in {elapsed:.2f} s")
    assert told[-1] == (1000, 1000)
    assert len(event["epcList"]) == 1000
    assert {_status(m, pack).state for pack in (packs[0], packs[499], packs[-1])} == {PackState.ACTIVE}
    found = m.supply.events(EventQuery.parse({"MATCH_epc": packs[777].epc}))
    assert [e["eventID"] for e in found.events] == [event["eventID"]]


def test_a_pack_is_decommissioned_once_even_from_its_case(supply_network: SupplyNetwork) -> None:
    from careledger.supplychain import destroying, dispensing

    net = supply_network
    m = net.manufacturer
    packs, case = net.commission(2), net.case()
    m.supply.pack(case, packs, by=m.address)
    me = party_uri(m.chain_id, m.address)
    job = m.supply.capture(document([dispensing(packs[0], me)]), by=m.address)  # still in its case: it leaves it
    assert job.ok, job.errors
    assert _status(m, packs[0]).state == PackState.DECOMMISSIONED
    steps = [(step.kind, step.event_id is not None) for step in m.supply.trace(packs[0]).steps]
    assert steps == [("commissioned", True), ("packed", True), ("dispensed", True)]
    destroyed = destroying(packs[:1], me)
    again = m.supply.capture(document([destroyed]), by=m.address)
    assert again.errors == (f"{destroyed['eventID']}: supply: already decommissioned ({packs[0].epc})",)
    assert again.event_ids == ()


def test_only_a_regulator_admits(supply_network: SupplyNetwork) -> None:
    net = supply_network
    w = net.wholesaler
    with pytest.raises(AccessDenied):
        w.supply.admit(w.address, "0614141", "self-made", 2_000_000_000, by=w.address)
    assert _last_audit(w, "supply.admit").access.outcome == Outcome.DENIED
    assert net.regulator.contracts.supply_chain().admission(w.address) is None


def test_an_event_time_without_its_offset_is_refused(supply_network: SupplyNetwork) -> None:
    from careledger.supplychain import commissioning

    m = supply_network.manufacturer
    event = {
        **commissioning(supply_network.packs(1), party_uri(m.chain_id, m.address)),
        "eventTime": "2026-03-01T12:00",
    }
    with pytest.raises(ValidationError, match="eventTime"):
        m.supply.capture(document([event]), by=m.address)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ilmd": {"cbvmda:lotNumber": "L" * 21, "cbvmda:itemExpirationDate": "2031-01-31"}}, "lot"),
        ({"ilmd": {"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "31/01/2031"}}, "not a date"),
        ({"ilmd": {}}, "ilmd: a commissioning names its lot"),
        ({"epcList": ["urn:epc:id:sgln:0614141.00777.0"]}, "epcList: a commissioning names serialised packs"),
    ],
)
def test_malformed_commissionings_fail_naming_the_event(
    supply_network: SupplyNetwork, change: dict[str, Any], message: str
) -> None:
    from careledger.supplychain import commissioning

    m = supply_network.manufacturer
    event = {**commissioning(supply_network.packs(1), party_uri(m.chain_id, m.address)), **change}
    before = _stored(m)
    job = m.supply.capture(document([event]), by=m.address)
    assert not job.ok
    assert job.errors[0].startswith(event["eventID"])
    assert message in job.errors[0]
    assert _stored(m) == before
