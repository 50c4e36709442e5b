"""No protected health information on chain, ever: a full scenario, then a scan of everything.

Every transaction input and every event log of the chain is searched for every name,
identifier, birth date, telephone number and clinical code of the fixtures. The scenario
covers records, consents, break-glass, anchoring and an insurance claim; a second one, the
drug supply chain: a pack dispensed to a named patient, its lot recalled, her notice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from careledger.access import Accessor
from careledger.chain import Role, open_chain
from careledger.claims import CPT, ClaimLine
from careledger.config import NODE_WALLET, Home, Settings
from careledger.consent import Purpose
from careledger.homes import init_home
from careledger.node import Node
from careledger.records import Category, SearchQuery
from careledger.supplychain import Pack
from careledger.testdata import (
    CARE,
    PASSPHRASE,
    SyntheticPatient,
    founding_node,
    insure,
    joining_node,
    synthetic_patients,
)


def _needles(patients: list[SyntheticPatient]) -> set[bytes]:
    found: set[str] = set()
    for patient in patients:
        p = patient.patient
        found |= {p["name"][0]["family"], *p["name"][0]["given"], p["identifier"][0]["value"], p["birthDate"]}
        found |= {p["birthDate"].replace("-", ""), p["telecom"][0]["value"]}
        found |= {code for record in patient.records for code in _codes(record)}
    needles = set()
    for text in found:
        # Short codes (CVX "115") would match random bytes by chance; searched as JSON strings.
        needles.add((text if len(text) >= 5 else f'"{text}"').encode())
    return needles


def _codes(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("code"), str) and "system" in value:
            yield value["code"]
        for item in value.values():
            yield from _codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _codes(item)


def test_a_full_scenario_puts_no_phi_on_chain(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    init_home(home, Settings(chain="memory", light_kdf=True), "pw")
    patients = synthetic_patients(4, seed=99)
    walk_ins = synthetic_patients(3, seed=100)  # no wallets: custodial identities, registered on chain
    with Node(home, Settings(chain="memory", light_kdf=True), lambda _wallet: "pw") as node:
        node.deploy()
        for index, patient in enumerate(patients):
            wallet = node.wallets.create(f"patient-{index}", Role.PATIENT, "pw")
            node.contracts.identity_registry(as_wallet=wallet.name).register(wallet.role, wallet.encryption_key)
            node._records.write(patient.patient, patient_address=wallet.address)
            for record in patient.records:
                node._records.write(record)
        node.access.for_caller(Accessor(node.address)).store(
            [node._records.prepare(r) for p in walk_ins for r in p.resources]
        )
        custodial_keys = [node.custodial.public_key(a).raw for a in node.custodial.addresses()]
        assert len(custodial_keys) == 3
        # One walk-in claims her identity with her own wallet: an address and a key go on chain.
        claimant = node.wallets.create("claimant", Role.PATIENT, "pw")
        walk_in = next(node.custodial.addresses())
        code = node.claiming.issue(walk_in).code
        node.claiming.claim(walk_in, code, claimant.address, claimant.encryption_key)
        node._records.delete(patients[0].records[0]["id"])
        # Consent and break-glass put their own transactions on chain: terms and hashes only.
        doctor = node.wallets.create("doctor", Role.PRACTITIONER, "pw")
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.register_actor(doctor.address, doctor.role, doctor.encryption_key)
        registry.attest(doctor.address, "medical-licence", int(time.time()) + 86_400)
        first = node.wallets.get("patient-0")
        terms = node.consent.terms(first.address, doctor.address, [Category.LABS], [Purpose.TREAT], days=30)
        node.consent.grant(first.name, terms)
        second = node.wallets.get("patient-1")
        research = node.consent.terms(second.address, doctor.address, [Category.GENOMICS], [Purpose.HRESCH], days=7)
        signed = node.consent.sign(node.unlock(second.name).account, research)
        node.consent.submit(NODE_WALLET, signed)
        family = patients[0].patient["name"][0]["family"]
        node.access.break_glass(doctor.address, first.address, f"{family} collapsed at home")
        node.access.for_caller(Accessor(doctor.address, Purpose.ETREAT)).read(patients[0].records[1]["id"])
        # A claim for one of patient-0's encounters: amounts, a class and a commitment on chain.
        insure(node, node.wallets.create("insurer", Role.INSURER, "pw"), [first])
        encounter = next(r for r in patients[0].records if r["resourceType"] == "Encounter")
        recent = {**encounter, "id": "recent-visit", "period": {"start": datetime.now(UTC).isoformat()}}
        node._records.write(recent)
        outcome = node.claims.submit(
            node.access.for_caller(Accessor(node.address, Purpose.HOPERAT)),
            "recent-visit",
            [ClaimLine(CPT, "99213", 200 * CARE)],
        )
        assert outcome.eob_id
        batches = node.anchorer.anchor_pending()
        audit_heads = node.audit_anchorer.anchor_pending()
        scanned = _everything_on_chain(node)
        keys = [w.encryption_key.raw for w in node.wallets.all() if w.name.startswith("patient-")]
    # The scan saw what the scenario put on chain: every root and every registered key.
    assert batches
    assert all(batch.root in scanned for batch in batches)
    assert audit_heads
    assert all(head.root in scanned for head in audit_heads)
    assert all(key in scanned for key in [*keys, *custodial_keys, claimant.encryption_key.raw])
    leaked = sorted(needle.decode() for needle in _needles([*patients, *walk_ins]) if needle in scanned)
    assert leaked == []


def test_a_supply_run_puts_no_patient_on_chain(tmp_path: Path) -> None:
    """A manufacturer and a pharmacy (also the regulator: none admits itself) on one chain: packs commissioned,
    shipped, received; one dispensed to a named patient, her lot recalled, the pharmacy's round writing her notice.
    Nothing on chain names her: not her name nor any identifier of hers, not her wallet, not her Patient,
    MedicationDispense or notice id."""
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    patient = synthetic_patients(1, seed=41)[0]
    gtin, lot = "00614141123452", "PHI-SCAN-1"
    with open_chain("memory") as chain:
        maker = founding_node(tmp_path / "maker", settings, chain=chain)
        pharmacy = joining_node(tmp_path / "pharmacy", settings, maker, chain=chain)
        try:
            maker.contracts.supply_chain(as_wallet=NODE_WALLET).grant_regulator(pharmacy.address)
            until = int((datetime.now(UTC) + timedelta(days=365)).timestamp())
            pharmacy.supply.admit(maker.address, "0614141", "MIA-1", until, by=pharmacy.address)
            packs = [Pack(gtin, f"P{n}", lot, date(2031, 1, 31)) for n in range(3)]
            maker.supply.commission(packs, by=maker.address)
            shipment = maker.supply.ship(packs, pharmacy.address, by=maker.address)
            pharmacy.supply.capture(maker.supply.notice(shipment, by=maker.address), by=pharmacy.address)
            pharmacy.supply.receive(shipment, by=pharmacy.address)
            wallet = pharmacy.wallets.create("her", Role.PATIENT, PASSPHRASE)  # her own, never registered
            her = pharmacy.maintenance.write(patient.patient, patient_address=wallet.address).record_id
            done = pharmacy.dispensary.dispense(packs[0], her, Accessor(pharmacy.address), by=pharmacy.address)
            maker.dispensary.recall(gtin, lot, by=maker.address)
            pharmacy.dispensary.follow_recalls()
            (notice,) = pharmacy.access.for_caller(Accessor(wallet.address)).search(
                SearchQuery(resource_type="Communication", patient_id=her)
            )
            assert lot in notice["payload"][0]["contentString"]
            batches = pharmacy.anchorer.anchor_pending() + pharmacy.supply_anchorer.anchor_pending()
            scanned = _everything_on_chain(pharmacy)
        finally:
            pharmacy.close()
            maker.close()
    assert batches
    assert all(batch.root in scanned for batch in batches)
    assert lot.encode() in scanned  # the scan sees the supply chain's own calls
    leaked = sorted(needle.decode() for needle in _needles([patient]) if needle in scanned)
    assert leaked == []
    for named in (bytes.fromhex(wallet.address[2:]), her.encode(), done.record_id.encode(), notice["id"].encode()):
        assert named not in scanned


def test_the_scan_finds_a_leak(tmp_path: Path) -> None:
    """The control: PHI put on chain by mistake (here in an endpoint URL) is found."""
    home = Home(tmp_path / "home")
    init_home(home, Settings(chain="memory", light_kdf=True), "pw")
    patient = synthetic_patients(1, seed=99)[0]
    family = patient.patient["name"][0]["family"]
    with Node(home, Settings(chain="memory", light_kdf=True), lambda _wallet: "pw") as node:
        node.deploy()
        wallet = node.wallets.create("careless", Role.PATIENT, "pw")
        node.contracts.identity_registry(as_wallet=wallet.name).register(
            wallet.role, wallet.encryption_key, f"https://{family}.example"
        )
        scanned = _everything_on_chain(node)
    assert family.encode() in _needles([patient])
    assert family.encode() in scanned


def _everything_on_chain(node: Node) -> bytes:
    w3 = node.chain.w3
    scanned = bytearray()
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            assert not isinstance(tx, bytes)
            if tx.get("to"):  # contract creations carry our bytecode (and its revert strings)
                scanned += bytes(tx.get("input") or tx.get("data") or b"")  # eth-tester says `data`
    for log in w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"}):
        scanned += bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"])
    return bytes(scanned)
