"""Issue 41's first acceptance item, end to end on one chain: a manufacturer, a wholesaler and two pharmacies (each
a node of its own, the regulator beside them) take `PACKS` packs from commissioning to the patient.

The packs are commissioned in one event and packed into cases; the cases are shipped to the wholesaler, who ships
half to each pharmacy; each pharmacy receives and unpacks its cases, verifies every pack and dispenses it to its
patient (at A its pharmacist, at B the node's operator). With the goods goes their signed history: each shipping
notice carries every signed event its sender holds about the items (the manufacturer's commissioning and packing,
the wholesaler's receiving), so a pharmacy's `trace` of one SGTIN shows every custody step with the signature of the
actor who made it, verified, and the proof that the event's digest is anchored, verified on chain. `PACKS` is 200
here (13 to 65 s on the shared 2-core test machine, by its load; 1,000 took 77 s quiet and 3.5 min loaded);
`make bench` (benchmarks/bench_supply.py) runs the same journey with 1,000 packs.
"""

from __future__ import annotations

from careledger.access import Accessor
from careledger.chain import PackState, Reason, Role, pack_key
from careledger.node import Node
from careledger.records import SearchQuery
from careledger.supplychain import OPERATOR
from careledger.testdata import PASSPHRASE
from tests.supplychain.conftest import SupplyNetwork

PACKS = 200
CASES = 4
_STEPS = ["commissioned", "packed", "shipped", "received", "shipped", "received", "unpacked", "dispensed"]


def test_packs_go_from_the_manufacturer_to_two_pharmacies_patients_traced_signed_and_anchored(
    supply_network: SupplyNetwork,
) -> None:
    net = supply_network
    m, w, a, b = net.manufacturer, net.wholesaler, net.pharmacy_a, net.pharmacy_b
    packs = net.commission(PACKS, lot="ACC-1")
    each = PACKS // CASES
    cases = [net.case() for _ in range(CASES)]
    for n, case in enumerate(cases):
        m.supply.pack(case, packs[n * each : (n + 1) * each], by=m.address)
    net.transfer(m, w, cases)  # each notice with the items' signed history
    halves = {a: range(CASES // 2), b: range(CASES // 2, CASES)}
    for pharmacy, mine in halves.items():
        net.transfer(w, pharmacy, [cases[n] for n in mine])
        for n in mine:
            pharmacy.supply.unpack(cases[n], packs[n * each : (n + 1) * each], by=pharmacy.address)

    dispensed: dict[Node, list[str]] = {}
    counter = {a: net.pharmacist, b: b.address}  # at A its pharmacist (staff), at B the node's operator
    for pharmacy, mine in halves.items():
        patient, by = _patient(pharmacy), counter[pharmacy]
        records = []
        for pack in (p for n in mine for p in packs[n * each : (n + 1) * each]):
            verdict = pharmacy.dispensary.verify(pack.element_string, by=by)
            assert (verdict.dispensable, verdict.code) == (True, "ok"), verdict.reason
            done = pharmacy.dispensary.dispense(pack, patient, Accessor(by), by=by)
            assert done.pending is None
            records.append(done.record_id)
        dispensed[pharmacy] = records
        door = pharmacy.access.for_caller(Accessor(pharmacy.address))
        found = door.search(SearchQuery(resource_type="MedicationDispense", patient_id=patient))
        assert sorted(r["id"] for r in found) == sorted(records)
    assert sum(len(records) for records in dispensed.values()) == PACKS
    chain = a.contracts.supply_chain()
    for pack in (packs[0], packs[-1]):
        status = chain.status(pack_key(pack.gtin, pack.serial))
        assert (status.state, status.reason) == (PackState.DECOMMISSIONED, Reason.DISPENSED)
    assert chain.status(pack_key(packs[0].gtin, packs[0].serial)).holder == a.address
    assert chain.status(pack_key(packs[-1].gtin, packs[-1].serial)).holder == b.address

    a.supply_anchorer.anchor_pending()
    trace = a.supply.trace(packs[0], by=OPERATOR)
    assert [step.kind for step in trace.steps] == _STEPS
    actors = [m.address, m.address, m.address, w.address, w.address, a.address, a.address, a.address]
    assert [step.actor for step in trace.steps] == actors
    for step in trace.steps:
        assert step.event_id is not None, f"{step.kind}: no event at pharmacy A"
        assert (step.signer, step.signature_ok) == (step.actor, True), step.kind
        assert step.anchor is not None, f"{step.kind}: not anchored"
        assert step.anchor.verified, f"{step.kind}: {step.anchor}"
        assert step.tx is not None, f"{step.kind}: no transaction"
    assert trace.status["state"] == "decommissioned"

    again = b.dispensary.verify(packs[0].element_string, by=b.address)  # a pack dispensed at A presented at B
    assert (again.dispensable, again.code) == (False, "already-dispensed")
    assert "cloned serial" in again.reason


def _patient(pharmacy: Node) -> str:
    """A patient of the pharmacy's own (her wallet on its home, her Patient record): her Patient id."""
    wallet = pharmacy.wallets.create("patient", Role.PATIENT, PASSPHRASE)
    patient = {"resourceType": "Patient", "name": [{"family": "Example", "given": ["Pat"]}]}
    return pharmacy.maintenance.write(patient, patient_address=wallet.address).record_id
