"""Exchange: one patient's 100 lab records fetched from the custodian node by another node.

Two homes on one anvil chain over loopback: the hospital runs `careledger serve` as its
own process; the clinic, in this process, signs the request, and on the answer checks
every content id, commitment, Merkle proof and anchored root, opens every data key and
stores all 100 records (re-encrypted to itself and the patient) with a Provenance.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import Result
from careledger.api import NodeProcess, free_port
from careledger.chain import Role, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.node import Node
from careledger.records import Category, categorise
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients

RECORDS = 100
FETCHES = 20


def bench_exchange() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, open_chain("anvil", chain_dir=Path(tmp) / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)

        port = free_port()
        hospital = founding_node(Path(tmp) / "hospital", settings, endpoint=f"http://127.0.0.1:{port}")
        clinic = joining_node(Path(tmp) / "clinic", settings, hospital)
        try:
            alice = hospital.wallets.create("alice", Role.PATIENT, PASSPHRASE)
            hospital.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
                alice.address, alice.role, alice.encryption_key
            )
            _labs(hospital, alice.address)
            terms = hospital.consent.terms(alice.address, clinic.address, [Category.LABS], [Purpose.TREAT], days=1)
            hospital.consent.grant("alice", terms)
            with NodeProcess(hospital.home, port, passphrase=PASSPHRASE).start():
                latencies = _fetches(clinic, hospital.address, alice.address)
        finally:
            clinic.close()
            hospital.close()
    return [
        Result("cross-node fetch of 100 records p50", "ms", statistics.median(latencies), _CONDITIONS),
        Result("cross-node fetch of 100 records p95", "ms", statistics.quantiles(latencies, n=20)[18], "same"),
    ]


_CONDITIONS = f"{FETCHES} fetches after one warm-up; verified against anvil and stored, loopback; target p50 < 200 ms"


def _labs(hospital: Node, alice: str) -> None:
    """`RECORDS` lab Observations of alice's, anchored."""
    patients = synthetic_patients(40, seed=8)
    first = patients[0].patient
    hospital._records.write(first, patient_address=alice)
    labs = [r for p in patients for r in p.records if categorise(r) is Category.LABS]
    for index, lab in enumerate(labs[:RECORDS]):
        mine = copy.deepcopy(lab)
        mine["id"] = f"lab-{index}"
        mine["subject"] = {"reference": f"Patient/{first['id']}"}
        hospital._records.write(mine)
    hospital.anchorer.anchor_pending()


def _fetches(clinic: Node, custodian: str, patient: str) -> list[float]:
    wallet = clinic.unlock(NODE_WALLET)
    account, key = wallet.account, wallet.encryption_key()
    clinic.requester.fetch(account, key, custodian, patient, [Category.LABS], Purpose.TREAT)  # warm-up, not counted
    latencies = []
    for _ in range(FETCHES):
        start = time.perf_counter()
        result = clinic.requester.fetch(account, key, custodian, patient, [Category.LABS], Purpose.TREAT)
        latencies.append((time.perf_counter() - start) * 1e3)
        assert len(result.stored) == RECORDS, len(result.stored)
    return latencies


BENCHMARKS = [bench_exchange]
