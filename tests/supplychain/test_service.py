"""`node.supply` across a supply network: capture (GS1's examples, the node's own events), chain effects, every
refusal (nothing stored, audited), anchoring and traces with their proofs."""

from __future__ import annotations

import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from careledger.audit import Outcome
from careledger.chain import PackState
from careledger.crypto import verify_proof
from careledger.errors import AccessDenied, Conflict, NotFound, ValidationError
from careledger.node import Node
from careledger.supplychain import OPERATOR, EventQuery, document, party_uri, shipping, signer_of
from tests.supplychain.conftest import SupplyNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "testdata" / "epcis"


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
        served = node.supply.event(event_id, by=node.address)
        assert "recordTime" in served  # the time it was recorded here, outside what was signed
        assert signer_of(served, node.chain_id, node.contracts.supply_chain().address) == node.address
    entry = SupplyNetwork.audited(node, "supply.capture")
    assert entry.access.outcome == Outcome.SUCCESS
    assert entry.access.agent == node.address


def test_own_events_end_to_end(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m, w, a = net.manufacturer, net.wholesaler, net.pharmacy_a
    packs = net.commission(20)
    assert SupplyNetwork.status(m, packs[0]).holder == m.address
    cases = [net.case(), net.case()]
    m.supply.pack(cases[0], packs[:10], by=m.address)
    m.supply.pack(cases[1], packs[10:], by=m.address)
    net.transfer(m, w, cases)
    assert SupplyNetwork.status(w, packs[15]).holder == w.address  # custody followed the case
    w.supply.unpack(cases[0], packs[:10], by=w.address)
    net.transfer(w, a, packs[:3])
    assert [SupplyNetwork.status(a, pack).holder for pack in packs[:4]] == [a.address] * 3 + [w.address]
    received = a.supply.events(EventQuery.parse({"EQ_bizStep": "receiving"}), by=OPERATOR).events
    mine = [e for e in received if e["careledger:signer"] == a.address]
    assert {party_uri(a.chain_id, a.address)} == {e["destinationList"][0]["destination"] for e in mine}
    upstream = [e for e in received if e["careledger:signer"] != a.address]  # the history came with the notice
    assert {e["careledger:signer"] for e in upstream} == {w.address}


def test_a_receive_with_no_ship_is_refused_and_nothing_stored(supply_network: SupplyNetwork) -> None:
    net = supply_network
    w = net.wholesaler
    packs = net.commission(2)
    before = SupplyNetwork.held(w)
    event = shipping(packs, party_uri(w.chain_id, net.manufacturer.address), party_uri(w.chain_id, w.address), _uuid())
    event.update(bizStep="receiving", disposition="in_progress")
    job = w.supply.capture(document([event]), by=w.address)
    assert not job.ok
    assert job.errors == (f"{event['eventID']}: supply: no such shipment",)
    assert SupplyNetwork.held(w) == before
    assert w.supply.capture_job(job.id, by=w.address) == job
    assert SupplyNetwork.audited(w, "supply.capture").access.outcome == Outcome.DENIED
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


def test_a_forged_signature_fails_the_job_naming_the_event(supply_network: SupplyNetwork) -> None:
    """As GS1's capture interface reports what goes wrong in capturing (not in receiving) a document: in its job."""
    net = supply_network
    m, w = net.manufacturer, net.wholesaler
    (event,) = m.supply.commission(net.packs(1), by=m.address)
    forged = {**event, "eventID": "urn:uuid:00000000-0000-4000-8000-000000000001"}  # altered after signing
    before = SupplyNetwork.held(w)
    job = w.supply.capture(document([forged]), by=w.address)
    assert not job.ok
    (error,) = job.errors
    assert error.startswith("urn:uuid:00000000-0000-4000-8000-000000000001: signature: it does not verify (")
    assert SupplyNetwork.held(w) == before
    entry = SupplyNetwork.audited(w, "supply.capture")
    assert entry.access.outcome == Outcome.DENIED
    assert entry.access.detail.endswith("refused: signature: it does not verify")  # the rule, no value of it


def test_a_commission_by_the_unadmitted_wholesaler_is_refused(supply_network: SupplyNetwork) -> None:
    net = supply_network
    w = net.wholesaler
    packs = net.packs(3)
    with pytest.raises(AccessDenied, match="supply: not admitted"):
        w.supply.commission(packs, by=w.address)
    assert SupplyNetwork.status(w, packs[0]).state == PackState.UNKNOWN
    assert "supply: not admitted" in (SupplyNetwork.audited(w, "supply.commission").access.detail or "")


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
    assert SupplyNetwork.status(m, packs[0]).state == PackState.IN_TRANSIT
    fresh = net.packs(1)
    refused = m.supply.capture(document([commissioning(fresh, me), shipping(packs, me, to, _uuid())]), by=m.address)
    assert not refused.ok
    assert "supply: in transit" in refused.errors[0]
    assert (
        SupplyNetwork.status(m, fresh[0]).state == PackState.UNKNOWN
    )  # all or nothing: the commissioning was not sent


def test_staff_act_and_strangers_are_refused_and_audited(supply_network: SupplyNetwork) -> None:
    net = supply_network
    a = net.pharmacy_a
    packs = net.commission(1)
    net.transfer(net.manufacturer, net.wholesaler, packs)
    shipment = net.wholesaler.supply.ship(packs, a.address, by=net.wholesaler.address)
    a.supply.capture(net.wholesaler.supply.notice(shipment, by=OPERATOR), by=net.pharmacist)
    assert a.supply.receive(shipment, by=net.pharmacist)[0]["epc"] == packs[0].epc
    assert SupplyNetwork.audited(a, "supply.receive").access.agent == net.pharmacist
    assert a.supply.events(EventQuery(), by=net.pharmacist).events
    with pytest.raises(AccessDenied, match="staff"):
        a.supply.events(EventQuery(), by=net.wholesaler.address)
    entry = SupplyNetwork.audited(a, "supply.read")
    assert (entry.access.outcome, entry.access.agent) == (Outcome.DENIED, net.wholesaler.address)
    with pytest.raises(TypeError):
        a.supply.events(EventQuery())  # type: ignore[call-arg]  # who acts is never implied


def test_trace_shows_every_step_with_signatures_and_anchor_proofs(supply_network: SupplyNetwork) -> None:
    net = supply_network
    m, w, a = net.manufacturer, net.wholesaler, net.pharmacy_a
    packs, case = net.commission(3), net.case()
    m.supply.pack(case, packs, by=m.address)
    net.transfer(m, w, [case])
    w.supply.unpack(case, packs, by=w.address)
    net.transfer(w, a, packs[:1])
    before = a.supply.trace(packs[0], by=a.address)
    assert all(step.anchor is None for step in before.steps)
    assert before.as_json()["steps"][-1]["anchor"] == "not yet anchored"
    for node in (m, w, a):
        node.supply_anchorer.anchor_pending()
    trace = a.supply.trace(packs[0], by=OPERATOR)
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
    for step in trace.steps:  # the history came with the goods: every actor's signed event is held here
        assert (step.event_id is not None, step.signer, step.signature_ok) == (True, step.actor, True), step.kind
        assert step.anchor is not None
        assert step.anchor.verified
        assert step.digest is not None
        siblings = [bytes.fromhex(s[2:]) for s in step.anchor.siblings]
        assert verify_proof(siblings, bytes.fromhex(step.anchor.root[2:]), bytes.fromhex(step.digest[2:]))
    elsewhere = net.pharmacy_b.supply.trace(packs[0], by=OPERATOR)  # a node that holds none of the events
    assert [step.kind for step in elsewhere.steps] == [kind for kind, _ in kinds]
    assert all("does not hold the event" in step.note for step in elsewhere.steps)
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
    assert {SupplyNetwork.status(m, pack).state for pack in (packs[0], packs[499], packs[-1])} == {PackState.ACTIVE}
    found = m.supply.events(EventQuery.parse({"MATCH_epc": packs[777].epc}), by=OPERATOR)
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
    assert SupplyNetwork.status(m, packs[0]).state == PackState.DECOMMISSIONED
    steps = [(step.kind, step.event_id is not None) for step in m.supply.trace(packs[0], by=OPERATOR).steps]
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
    assert SupplyNetwork.audited(w, "supply.admit").access.outcome == Outcome.DENIED
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
    before = SupplyNetwork.held(m)
    job = m.supply.capture(document([event]), by=m.address)
    assert not job.ok
    assert job.errors[0].startswith(event["eventID"])
    assert message in job.errors[0]
    assert SupplyNetwork.held(m) == before


def _me(node: Node) -> str:
    return party_uri(node.chain_id, node.address)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"eventTime": "0001-01-01T00:00:00+01:00"}, "epcisBody/eventList/0/eventTime: '0001-01-01T00:00:00+01:00'"),
        ({"eventTime": "9999-12-31T23:59:59-01:00"}, "epcisBody/eventList/0/eventTime: '9999-12-31T23:59:59-01:00'"),
        ({"eventID": "urn:uuid:" + "x" * 291}, "epcisBody/eventList/0/eventID: 300 characters, at most 255"),
        ({"bizStep": "https://example.com/" + "s" * 240}, "epcisBody/eventList/0/bizStep: 260 characters"),
        ({"epcList": ["https://id.gs1.org/01/00614141123453/21/S1"]}, "epcisBody/eventList/0/epcList/0: gtin: check"),
        ({"epcList": ["urn:epc:id:sgtin:0614141.12345.S1"]}, "epcisBody/eventList/0/epcList/0: epc: an SGTIN's"),
    ],
)
def test_what_the_node_cannot_keep_or_act_on_is_refused_before_anything_is_sent(
    supply_network: SupplyNetwork, change: dict[str, Any], refused: str
) -> None:
    from careledger.supplychain import commissioning

    m = supply_network.manufacturer
    packs = supply_network.packs(1)
    with pytest.raises(ValidationError) as error:
        m.supply.capture(document([{**commissioning(packs, _me(m)), **change}]), by=m.address)
    assert str(error.value).startswith(refused)
    assert SupplyNetwork.status(m, packs[0]).state == PackState.UNKNOWN
    detail = SupplyNetwork.audited(m, "supply.capture").access.detail or ""
    assert detail.startswith(refused.split(": ")[0] + ": ")  # where, and which rule: never the value
    assert not any(value in detail for value in ("xxxxx", "sssss", "0001-01", "9999-12", "00614141123453", "12345.S1"))


def test_an_epc_of_another_scheme_is_kept_as_it_is(supply_network: SupplyNetwork) -> None:
    node = supply_network.pharmacy_b
    seen = {
        **shipping(supply_network.packs(1), _me(node), party_uri(node.chain_id, "0x" + "ab" * 20), _uuid()),
        "epcList": ["urn:epc:id:sgln:0614141.00777.0", "https://id.gs1.org/8004/0614141ABC"],
        "sourceList": [],
        "destinationList": [],
    }
    job = node.supply.capture(document([seen]), by=node.address)
    assert job.ok, job.errors
    assert node.supply.store.event(job.event_ids[0]).effect == "observation"  # it names no party: what was seen


@pytest.mark.parametrize("rule", ["serial", "itself", "nesting", "recalled"])
def test_a_document_whose_second_event_the_chain_would_refuse_is_neither_mined_nor_stored(
    supply_network: SupplyNetwork, rule: str
) -> None:
    """The dry run mirrors each contract rule a step can break, so a document is all or nothing."""
    from careledger.config import NODE_WALLET
    from careledger.supplychain import commissioning, packing

    net = supply_network
    m = net.manufacturer
    me = _me(m)
    first = net.packs(1)
    if rule == "serial":
        second, said = [commissioning(net.commission(1), me)], "supply: serial already commissioned"
    elif rule == "itself":
        case = net.case()
        inside = packing(case, first, me)
        second, said = [{**inside, "childEPCs": [*inside["childEPCs"], case.epc]}], "supply: a container cannot"
    elif rule == "nesting":
        cases = [net.case() for _ in range(4)]
        nested = [packing(cases[0], first, me)] + [
            packing(outer, [inner], me) for inner, outer in itertools.pairwise(cases)
        ]
        second, said = nested, "supply: containers nest at most 3 deep"
    else:
        (old,) = net.commission(1, lot="RC-" + rule)
        m.contracts.supply_chain(as_wallet=NODE_WALLET).recall(old.gtin, "RC-" + rule)
        second, said = [commissioning(net.packs(1, lot="RC-" + rule), me)], "supply: lot recalled"
    before = SupplyNetwork.held(m)
    job = m.supply.capture(document([commissioning(first, me), *second]), by=m.address)
    assert not job.ok
    assert said in job.errors[-1]
    assert (job.event_ids, SupplyNetwork.held(m)) == ((), before)
    assert SupplyNetwork.status(m, first[0]).state == PackState.UNKNOWN  # the first event's commissioning was not sent


def test_an_unsigned_custody_claim_is_this_node_s_own_and_takes_effect_or_fails(supply_network: SupplyNetwork) -> None:
    net = supply_network
    w = net.wholesaler
    fakes = net.packs(2)  # never commissioned: counterfeit serials
    maker, me = _me(net.manufacturer), _me(w)
    received = {**shipping(fakes, maker, me, _uuid()), "bizStep": "receiving", "disposition": "in_progress"}
    job = w.supply.capture(document([received]), by=w.address)
    assert job.errors == (f"{received['eventID']}: supply: no such shipment",)  # no custody from thin air
    shipped = shipping(fakes, me, maker, _uuid())
    assert w.supply.capture(document([shipped]), by=w.address).errors == (
        f"{shipped['eventID']}: supply: unknown item ({fakes[0].epc})",
    )
    theirs = shipping(net.commission(1), maker, me, _uuid())  # "the manufacturer shipped", signed by w: no
    (error,) = w.supply.capture(document([theirs]), by=w.address).errors
    said = "this node signs only its own custody steps: the event names another actor"
    assert error == f"{theirs['eventID']}: {said} ({net.manufacturer.address})"
    seen = {**received, "eventID": _uuid_urn(), "careledger:observation": True}  # said to be seen, not done
    noted = w.supply.capture(document([seen]), by=w.address)
    assert noted.ok, noted.errors
    assert w.supply.store.event(seen["eventID"]).effect == "observation"


def test_the_same_event_without_an_id_is_captured_once(supply_network: SupplyNetwork) -> None:
    node = supply_network.pharmacy_b
    body = json.loads((EXAMPLES / "Example_9.6.2-ObjectEvent.jsonld").read_text())
    for event in body["epcisBody"]["eventList"]:
        del event["eventID"]
    first = node.supply.capture(copy.deepcopy(body), by=node.address)
    assert first.ok, first.errors
    again = node.supply.capture(copy.deepcopy(body), by=node.address)  # a client's retry after a timeout
    assert not again.ok
    said = "duplicate event: the same event (named by its content: it has no eventID) was captured before"
    assert again.errors == (f"{first.event_ids[0]}: {said}",)


def test_a_store_failing_after_the_send_fails_the_job_naming_what_was_sent(
    supply_network: SupplyNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    from careledger.supplychain import commissioning

    m = supply_network.manufacturer
    packs = supply_network.packs(1)
    save = m.supply.store.save

    def failing(job: Any, events: Any, *, by: str) -> None:
        if events:
            raise RuntimeError("disk full")
        save(job, events, by=by)

    monkeypatch.setattr(m.supply.store, "save", failing)
    event = commissioning(packs, _me(m))
    job = m.supply.capture(document([event]), by=OPERATOR)
    assert not job.ok
    (error,) = job.errors
    assert error.startswith(f"{event['eventID']}: sent, not stored: the chain took its steps (0x")
    assert SupplyNetwork.status(m, packs[0]).state == PackState.ACTIVE  # the chain holds what was sent
    entry = SupplyNetwork.audited(m, "supply.capture")
    assert (entry.access.outcome, entry.access.agent) == (Outcome.ERROR, m.address)  # OPERATOR: the node itself
    assert m.supply.capture_job(job.id, by=OPERATOR) == job


def _uuid_urn() -> str:
    return f"urn:uuid:{_uuid()}"
