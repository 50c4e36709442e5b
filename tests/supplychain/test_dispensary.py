"""Verify at dispense and dispense, across a supply network: a pack that came the whole way is dispensed once (her
MedicationDispense through the door, the serial decommissioned on chain); every other pack is refused with what it
means to a pharmacist (cloned, diverted, a custody step skipped, expired, quarantined, …), each verify audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from careledger.access import AFFILIATION, Accessor
from careledger.audit import Outcome
from careledger.chain import PackState, PackStatus, Reason, SupplyChain, lot_key, pack_key
from careledger.config import NODE_WALLET
from careledger.errors import AccessDenied, Conflict, UnknownRecord, ValidationError
from careledger.node import Node
from careledger.store import SupplyDispense
from careledger.supplychain._medication import EXPIRY_EXTENSION, GTIN_SYSTEM, LOT_EXTENSION, URI_SYSTEM
from careledger.supplychain._stock import refuse_dispensed
from tests.supplychain.conftest import SupplyNetwork


@dataclass(frozen=True)
class Counter:
    """Pharmacy A with a patient of its own (a wallet here, her Patient record) to dispense to."""

    node: Node
    patient_id: str
    wallet: str


@pytest.fixture(scope="module")
def counter(supply_network: SupplyNetwork) -> Counter:
    node = supply_network.pharmacy_a
    return Counter(node, "dora", supply_network.patient(node, "dora"))


def test_a_pack_that_came_the_whole_way_is_dispensed_once(supply_network: SupplyNetwork, counter: Counter) -> None:
    net, a = supply_network, counter.node
    (pack,) = net.at_pharmacy()
    verdict = a.dispensary.verify(pack.element_string, by=a.address)
    assert (verdict.dispensable, verdict.code) == (True, "ok")
    assert SupplyNetwork.audited(a, "supply.verify").access.detail.startswith(f"ok: {pack.epc}")

    done = a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(a.address), by=a.address)
    assert done.pending is None
    assert done.tx_hash is not None

    status = SupplyNetwork.status(a, pack)
    assert (status.state, status.reason, status.holder) == (PackState.DECOMMISSIONED, Reason.DISPENSED, a.address)
    with a.db.session() as session:
        row = session.scalars(select(SupplyDispense).where(SupplyDispense.key == pack_key(pack.gtin, pack.serial)))
        assert row.one().record_id == done.record_id
    mine = a.access.for_caller(Accessor(counter.wallet)).read(done.record_id)  # hers to read
    assert mine["status"] == "completed"
    assert mine["subject"] == {"reference": f"Patient/{counter.patient_id}"}
    assert mine["medicationCodeableConcept"]["coding"] == [{"system": GTIN_SYSTEM, "code": pack.gtin}]
    assert mine["identifier"] == [{"system": URI_SYSTEM, "value": pack.epc}]
    assert {"url": LOT_EXTENSION, "valueString": "L1"} in mine["extension"]
    assert {"url": EXPIRY_EXTENSION, "valueDate": pack.expiry.isoformat()} in mine["extension"]  # type: ignore[union-attr]
    dispensed = SupplyNetwork.audited(a, "supply.dispense")
    assert (dispensed.access.outcome, dispensed.access.detail) == (Outcome.SUCCESS, pack.epc)

    # A second scan of the same serial, here or at another pharmacy, is a clone.
    with pytest.raises(Conflict, match=r"cloned serial: this pack was dispensed here"):
        a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(a.address), by=a.address)
    refused = SupplyNetwork.audited(a, "supply.dispense")
    assert refused.access.outcome == Outcome.DENIED
    assert refused.access.detail.startswith("already-dispensed")
    b = net.pharmacy_b
    elsewhere = b.dispensary.verify(pack.element_string, by=b.address)
    today = datetime.now(UTC).date().isoformat()
    assert elsewhere.code == "already-dispensed"
    assert elsewhere.reason == f"cloned serial: this pack was dispensed at {a.address} on {today}"
    assert SupplyNetwork.audited(b, "supply.verify").access.outcome == Outcome.DENIED


def _refused(node: Node, scan: str, code: str, said: str) -> None:
    verdict = node.dispensary.verify(scan, by=node.address)
    assert (verdict.dispensable, verdict.code) == (False, code), verdict.reason
    assert said in verdict.reason
    entry = SupplyNetwork.audited(node, "supply.verify")
    assert entry.access.outcome == Outcome.DENIED
    assert entry.access.detail.startswith(f"{code}: ")


def test_a_pack_presented_at_a_pharmacy_that_never_received_it_is_diverted(supply_network: SupplyNetwork) -> None:
    (pack,) = supply_network.at_pharmacy()
    b = supply_network.pharmacy_b
    _refused(b, pack.element_string, "diverted", f"diverted: held by {supply_network.pharmacy_a.address}, never")


def test_a_pack_shipped_but_never_received_skipped_a_custody_step(supply_network: SupplyNetwork) -> None:
    net = supply_network
    packs = net.commission(1)
    net.transfer(net.manufacturer, net.wholesaler, packs)
    net.wholesaler.supply.ship(packs, net.pharmacy_b.address, by=net.wholesaler.address)
    said = "a custody step is missing: shipped to this node"
    _refused(net.pharmacy_b, packs[0].element_string, "in-transit", said)
    _refused(net.pharmacy_a, packs[0].element_string, "diverted", "in transit from")


def test_an_expired_pack_is_refused(supply_network: SupplyNetwork) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    (pack,) = supply_network.at_pharmacy(lot="OLD1", expiry=yesterday)
    _refused(supply_network.pharmacy_a, pack.element_string, "expired", f"expired on {yesterday.isoformat()}")


def test_a_serial_no_manufacturer_commissioned_is_unknown(supply_network: SupplyNetwork) -> None:
    (fake,) = supply_network.packs(1)
    _refused(supply_network.pharmacy_a, fake.element_string, "unknown-serial", "unknown serial")


def test_a_barcode_whose_lot_or_expiry_is_not_the_chains_is_refused(supply_network: SupplyNetwork) -> None:
    (pack,) = supply_network.at_pharmacy()
    a = supply_network.pharmacy_a
    _refused(a, replace(pack, lot="L2").element_string, "lot-mismatch", "the barcode's lot L2")
    _refused(a, replace(pack, expiry=date(2032, 1, 31)).element_string, "expiry-mismatch", "2032-01-31")


def test_a_quarantined_pack_is_refused_until_released(supply_network: SupplyNetwork, counter: Counter) -> None:
    (pack,) = supply_network.at_pharmacy()
    a = counter.node
    assert a.dispensary.quarantine(pack.element_string, "torn seal", by=a.address)
    assert not a.dispensary.quarantine(pack.element_string, "again", by=a.address)
    _refused(a, pack.element_string, "quarantined", "quarantined here: torn seal")
    with pytest.raises(Conflict, match="quarantined here"):
        a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(a.address), by=a.address)
    flagged = a.dispensary.stock(by=a.address, flagged_only=True)
    assert [item.pack.serial for item in flagged if "quarantined" in item.flags] == [pack.serial]
    assert a.dispensary.release(pack.element_string, by=a.address)
    assert a.dispensary.verify(pack.element_string, by=a.address).code == "ok"
    assert SupplyNetwork.audited(a, "supply.release").access.detail == pack.epc


def test_stock_lists_what_this_node_holds_asking_the_chain_once(
    supply_network: SupplyNetwork, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held loose or in a case, by this node's own events; not what it dispensed; the chain asked in one batch of
    the packs shown, never once a pack."""
    net, a = supply_network, counter.node
    loose = net.at_pharmacy(2)
    boxed, case = net.commission(2), net.case()
    net.manufacturer.supply.pack(case, boxed, by=net.manufacturer.address)
    net.transfer(net.manufacturer, a, [case])
    a.dispensary.dispense(loose[1].element_string, counter.patient_id, Accessor(a.address), by=a.address)

    batches: list[int] = []
    statuses = SupplyChain.statuses

    def one_batch(facade: SupplyChain, keys: Sequence[bytes]) -> list[PackStatus]:
        batches.append(len(keys))
        return statuses(facade, keys)

    def one_by_one(_facade: SupplyChain, _key: bytes) -> PackStatus:
        raise AssertionError("stock asked the chain once a pack")

    monkeypatch.setattr(SupplyChain, "statuses", one_batch)
    monkeypatch.setattr(SupplyChain, "status", one_by_one)
    held = {item.pack.serial: item for item in a.dispensary.stock(by=a.address)}
    assert {loose[0].serial, *(p.serial for p in boxed)} <= set(held)
    assert loose[1].serial not in held  # dispensed: gone, whatever the chain says yet
    assert held[boxed[0].serial].expiry == boxed[0].expiry
    assert held[boxed[0].serial].lot == lot_key(net.gtin, "L1")
    assert batches == [len(held)]
    assert a.dispensary.stock(by=a.address, flagged_only=True) == []  # nothing flagged: nothing asked
    assert batches[-1] == 0
    monkeypatch.undo()
    b = net.pharmacy_b
    assert not set(held) & {i.pack.serial for i in b.dispensary.stock(by=b.address)}


def test_stock_is_staff_only(supply_network: SupplyNetwork) -> None:
    a, stranger = supply_network.pharmacy_a, "0x" + "5e" * 20
    with pytest.raises(AccessDenied, match="not of this node's staff"):
        a.dispensary.stock(by=stranger)
    entry = SupplyNetwork.audited(a, "supply.stock")
    assert (entry.access.agent.lower(), entry.access.outcome) == (stranger, Outcome.DENIED)
    assert a.dispensary.stock(by=supply_network.pharmacist, flagged_only=True) is not None


def test_a_stranger_may_not_verify_or_dispense(supply_network: SupplyNetwork, counter: Counter) -> None:
    (pack,) = supply_network.at_pharmacy()
    a, stranger = counter.node, "0x" + "5e" * 20
    with pytest.raises(AccessDenied, match="not of this node's staff"):
        a.dispensary.verify(pack.element_string, by=stranger)
    entry = SupplyNetwork.audited(a, "supply.verify")
    assert (entry.access.agent.lower(), entry.access.outcome) == (stranger, Outcome.DENIED)
    with pytest.raises(AccessDenied):
        a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(stranger), by=stranger)
    assert SupplyNetwork.status(a, pack).state is PackState.ACTIVE


def test_a_dispense_names_a_patient_here_and_a_pack_not_a_case(supply_network: SupplyNetwork, counter: Counter) -> None:
    (pack,) = supply_network.at_pharmacy()
    a = counter.node
    with pytest.raises(UnknownRecord):
        a.dispensary.dispense(pack.element_string, "nobody", Accessor(a.address), by=a.address)
    with pytest.raises(ValidationError, match=r"^scan: a pack's code"):
        a.dispensary.verify(supply_network.case().epc, by=a.address)
    assert SupplyNetwork.audited(a, "supply.verify").access.detail == "malformed scan: scan"
    with pytest.raises(ValidationError, match=r"^gtin: "):
        a.dispensary.verify("(01)00614141123453(21)X1", by=a.address)
    refused = SupplyNetwork.audited(a, "supply.verify")  # the element named, not what was scanned
    assert (refused.access.outcome, refused.access.detail) == (Outcome.DENIED, "malformed scan: gtin")
    misread = "(01)00614141123452(17)251340(21)X1"
    with pytest.raises(ValidationError, match=r"^expiry: 251340"):
        a.dispensary.dispense(misread, counter.patient_id, Accessor(a.address), by=a.address)
    for action in ("supply.verify", "supply.dispense"):
        entry = SupplyNetwork.audited(a, action)
        assert (entry.access.outcome, entry.access.detail) == (Outcome.DENIED, "malformed scan: expiry")
    assert SupplyNetwork.status(a, pack).state is PackState.ACTIVE
    assert a.dispensary.verify(pack.element_string, by=a.address).code == "ok"  # nothing was written for it


def test_a_dispense_the_chain_did_not_take_keeps_its_record_and_is_sent_again(
    supply_network: SupplyNetwork, counter: Counter
) -> None:
    """The pharmacy's wallet cannot pay for the decommission: her MedicationDispense stays, the pack is not
    dispensed twice meanwhile, and the leader's round sends the event once the chain takes it."""
    (pack,) = supply_network.at_pharmacy()
    a = counter.node
    balance = a.chain.balance(a.address)
    _set_balance(a, 0)
    try:
        done = a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(a.address), by=a.address)
        assert done.pending is not None
        assert "the node sends its event again" in done.pending
        assert done.tx_hash is None
        assert SupplyNetwork.status(a, pack).state is PackState.ACTIVE
        assert a.access.for_caller(Accessor(counter.wallet)).read(done.record_id)["status"] == "completed"
        assert a.dispensary.verify(pack.element_string, by=a.address).code == "already-dispensed"
    finally:
        _set_balance(a, balance)
    assert a.dispensary.retry_dispenses(older_than=timedelta(0)) == 1
    assert SupplyNetwork.status(a, pack).state is PackState.DECOMMISSIONED
    assert a.dispensary.retry_dispenses(older_than=timedelta(0)) == 0
    with a.db.session() as session:
        row = session.scalars(select(SupplyDispense).where(SupplyDispense.key == pack_key(pack.gtin, pack.serial)))
        assert row.one().event_id == done.event_id


def _set_balance(node: Node, wei: int) -> None:
    node.chain.w3.provider.make_request("anvil_setBalance", [node.address, hex(wei)])  # type: ignore[arg-type]


def test_a_dispense_the_chain_keeps_refusing_is_tried_again_less_and_less_often(
    supply_network: SupplyNetwork, counter: Counter, caplog: pytest.LogCaptureFixture
) -> None:
    (pack,) = supply_network.at_pharmacy()
    a = counter.node
    balance = a.chain.balance(a.address)
    _set_balance(a, 0)
    try:
        done = a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(a.address), by=a.address)
        assert done.pending is not None
        caplog.clear()
        with caplog.at_level("WARNING", logger="careledger.supplychain._dispensary"):
            assert a.dispensary.retry_dispenses(older_than=timedelta(0)) == 0
            assert a.dispensary.retry_dispenses(older_than=timedelta(0)) == 0  # not due yet: not sent
        tried = [r for r in caplog.records if "not decommissioned on chain yet" in r.getMessage()]
        assert len(tried) == 1
    finally:
        _set_balance(a, balance)
    assert SupplyNetwork.status(a, pack).state is PackState.ACTIVE


def test_a_pending_dispense_is_the_nodes_to_finish_after_her_affiliation_lapses(
    supply_network: SupplyNetwork, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Her dispense was allowed when she made it; sending its event again is the node's work, as itself, naming
    her; meanwhile the pack moves no more."""
    net, a = supply_network, counter.node
    (pack,) = net.at_pharmacy()
    locum = net.staff(a, "locum")
    balance = a.chain.balance(a.address)
    _set_balance(a, 0)
    try:
        done = a.dispensary.dispense(pack.element_string, counter.patient_id, Accessor(locum), by=locum)
    finally:
        _set_balance(a, balance)
    assert done.pending is not None
    key = pack_key(pack.gtin, pack.serial)
    with pytest.raises(Conflict, match="a dispensed pack moves no more"):
        refuse_dispensed(a.db, [key])

    registry = a.contracts.identity_registry(as_wallet=NODE_WALLET)
    affiliation = registry.latest_credential(locum, AFFILIATION)
    assert affiliation is not None
    registry.revoke_credential(affiliation.credential_id)
    monkeypatch.setattr("careledger.access._facts.CARE_TEAM_TTL", 0.0)  # the lapse seen at once
    with pytest.raises(AccessDenied):
        a.dispensary.verify(pack.element_string, by=locum)

    assert a.dispensary.retry_dispenses(older_than=timedelta(0)) == 1
    assert SupplyNetwork.status(a, pack).state is PackState.DECOMMISSIONED
    sent = SupplyNetwork.audited(a, "supply.dispense")
    assert (sent.access.agent, sent.access.outcome) == (a.address, Outcome.SUCCESS)
    assert sent.access.detail == f"{pack.epc}: decommissioned on chain, sent again for {locum}"
