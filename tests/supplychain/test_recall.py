"""A recall across a supply network: the lot's manufacturer recalls it on chain; pharmacy A's next round flags its
stock of the lot and tells the patient it dispensed a pack of it (a Communication on her record and her stream),
once; nothing on chain names her, and no one but her pharmacy learns who she is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from careledger.access import Accessor
from careledger.audit import Outcome
from careledger.chain import Role, lot_key
from careledger.config import NODE_WALLET
from careledger.errors import AccessDenied
from careledger.identity import SUPPLY_OFFICER
from careledger.supplychain import notice_id
from careledger.telehealth import Event
from careledger.testdata import PASSPHRASE, synthetic_patients
from tests.supplychain.conftest import SupplyNetwork
from tests.test_no_phi_on_chain import _everything_on_chain, _needles


def test_a_recall_reaches_the_patient_and_flags_the_stock_in_one_round(supply_network: SupplyNetwork) -> None:
    net, a = supply_network, supply_network.pharmacy_a
    synthetic = synthetic_patients(1, seed=41)[0]
    wallet = a.wallets.create("recalled-patient", Role.PATIENT, PASSPHRASE)
    patient_id = str(a.maintenance.write(synthetic.patient, patient_address=wallet.address).record_id)
    packs = net.at_pharmacy(3, lot="R1")
    other = net.at_pharmacy(1, lot="R2")
    done = a.dispensary.dispense(packs[0].element_string, patient_id, Accessor(a.address), by=a.address)
    a.dispensary.follow_recalls()  # the cursor at the head before the recall

    net.manufacturer.dispensary.recall(net.gtin, "R1", by=net.manufacturer.address)
    recalled = SupplyNetwork.audited(net.manufacturer, "supply.recall")
    assert (recalled.access.outcome, recalled.access.detail) == (Outcome.SUCCESS, f"GTIN {net.gtin} lot R1")

    async def round_heard() -> tuple[int, Event]:
        stream = a.messages.events.subscribe(wallet.address, asyncio.get_running_loop())
        try:
            flagged = await asyncio.to_thread(a.dispensary.follow_recalls)
            return flagged, await asyncio.wait_for(stream.queue.get(), 10)
        finally:
            stream.close()

    flagged, heard = asyncio.run(round_heard())
    assert flagged == 1
    notice = notice_id(done.record_id, lot_key(net.gtin, "R1"))
    assert heard == Event("message", {"thread": notice, "communication": notice, "unread": 1})

    # Her stock of the lot is flagged, and verify says so; another lot's pack is not.
    flagged_stock = {item.pack.serial: item.flags for item in a.dispensary.stock(by=a.address, flagged_only=True)}
    assert {p.serial for p in packs[1:]} <= set(flagged_stock)
    said = f"recalled by its manufacturer ({net.manufacturer.address}) in block"
    assert all(flagged_stock[p.serial]["recalled"].startswith(said) for p in packs[1:])
    assert other[0].serial not in flagged_stock
    verdict = a.dispensary.verify(packs[1].element_string, by=a.address)
    assert (verdict.code, verdict.dispensable) == ("recalled", False)
    assert verdict.reason.startswith(f"lot R1 {said}")
    verified = SupplyNetwork.audited(a, "supply.verify")
    assert (verified.access.outcome, verified.access.agent) == (Outcome.DENIED, a.address)
    assert verified.access.detail.startswith(f"recalled: {packs[1].epc}: lot R1 {said}")

    # Her notice: on her record, hers to read, an alert naming the medicine, the lot, what to do, the pharmacy.
    message = a.access.for_caller(Accessor(wallet.address)).read(notice)
    assert message["subject"] == {"reference": f"Patient/{patient_id}"}
    assert message["category"][0]["coding"][0]["code"] == "alert"
    assert message["about"] == [{"reference": f"MedicationDispense/{done.record_id}"}]
    text = message["payload"][0]["contentString"]
    assert f"GTIN {net.gtin} (lot R1)" in text
    assert "Do not take it" in text
    assert a.messages.unread(wallet.address).total == 1
    accounting = [e.access for e in a.audit.entries(patient=wallet.address) if e.access.detail == "drug recall notice"]
    assert {access.interaction for access in accounting} >= {"read", "create"}  # her dispense read, her notice written
    assert all(access.agent == a.address for access in accounting)

    # Once: the next rounds write nothing more.
    assert a.dispensary.follow_recalls() == 0
    assert a.messages.unread(wallet.address).total == 1

    # The manufacturer learnt nothing of her, and nothing on chain names her.
    assert not [e for e in net.manufacturer.audit.entries() if e.access.patient == wallet.address]
    scanned = _everything_on_chain(a)
    leaked = sorted(needle.decode() for needle in _needles([synthetic]) if needle in scanned)
    assert leaked == []
    for named in (bytes.fromhex(wallet.address[2:]), patient_id.encode(), done.record_id.encode()):
        assert named not in scanned


def test_only_the_lots_manufacturer_or_a_regulator_recalls_it(supply_network: SupplyNetwork) -> None:
    net = supply_network
    net.commission(1, lot="R3")
    b = net.pharmacy_b
    with pytest.raises(AccessDenied, match="supply: not the lot's manufacturer"):
        b.dispensary.recall(net.gtin, "R3", by=b.address)
    refused = SupplyNetwork.audited(b, "supply.recall")
    assert refused.access.outcome == Outcome.DENIED
    with pytest.raises(AccessDenied, match="holds no supply-officer credential of this node"):
        b.dispensary.recall(net.gtin, "R3", by="0x" + "5e" * 20)
    net.regulator.dispensary.recall(net.gtin, "R3", by=net.regulator.address)
    assert net.regulator.contracts.supply_chain().lot(net.gtin, "R3").recalled  # type: ignore[union-attr]
    b.dispensary.follow_recalls()
    flags = b.dispensary.flags.recalled_lots()
    assert flags[lot_key(net.gtin, "R3")].startswith(f"recalled by a regulator ({net.regulator.address})")


def test_a_recall_takes_the_operator_or_a_supply_officer_not_any_staff(supply_network: SupplyNetwork) -> None:
    """Staff commission, ship and dispense; recalling a lot, which cannot be undone, takes the node's operator or a
    person it attested a live `supply-officer` credential; another node's officer is not this one's."""
    net, m = supply_network, supply_network.manufacturer
    net.commission(1, lot="R4")
    clerk = net.staff(m, "clerk")
    with pytest.raises(AccessDenied, match="holds no supply-officer credential of this node"):
        m.dispensary.recall(net.gtin, "R4", by=clerk)
    refused = SupplyNetwork.audited(m, "supply.recall")
    assert (refused.access.agent, refused.access.outcome) == (clerk, Outcome.DENIED)
    assert refused.access.detail == "not this node's supply-officer"
    assert not m.contracts.supply_chain().lot(net.gtin, "R4").recalled  # type: ignore[union-attr]

    officer = net.staff(m, "officer")
    until = int((datetime.now(UTC) + timedelta(days=30)).timestamp())
    b = net.pharmacy_b
    net.regulator.contracts.identity_registry(as_wallet=NODE_WALLET).grant_role("ISSUER_ROLE", b.address)
    b.contracts.identity_registry(as_wallet=NODE_WALLET).attest(officer, SUPPLY_OFFICER, until)
    with pytest.raises(AccessDenied, match="supply-officer"):  # pharmacy B's word does not make her m's officer
        m.dispensary.recall(net.gtin, "R4", by=officer)
    m.contracts.identity_registry(as_wallet=NODE_WALLET).attest(officer, SUPPLY_OFFICER, until)
    m.dispensary.recall(net.gtin, "R4", by=officer)
    assert m.contracts.supply_chain().lot(net.gtin, "R4").recalled  # type: ignore[union-attr]
    recalled = SupplyNetwork.audited(m, "supply.recall")
    assert (recalled.access.agent, recalled.access.outcome) == (officer, Outcome.SUCCESS)
