"""Records: ingest and read rates, and gas per anchored record.

A node in a temporary home (SQLite, managed anvil chain); synthetic patients from
`careledger.testdata`. Ingest validates, encrypts, seals to the patient and the node,
writes the blob (fsync) and the rows, while a background thread anchors what is pending,
as a serving node does.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from benchmarks import Result
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.node import Node, init_home
from careledger.testdata import synthetic_patients

TARGET_RESOURCES = 3000


def bench_records() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        settings = Settings(light_kdf=True, anchor_batch_size=1024)
        init_home(home, settings, "pw")
        with Node(home, settings, lambda _wallet: "pw") as node:
            node.deploy()
            patient_address = node.wallets.create("alice", Role.PATIENT, "pw").address
            node.unlock()  # decrypt the node wallet now, not inside the timed part
            resources = []
            for patient in synthetic_patients(200, seed=7):
                resources.extend(patient.resources)
                if len(resources) >= TARGET_RESOURCES:
                    break
            stop = threading.Event()
            anchoring = threading.Thread(target=_anchor_until, args=(node, stop), daemon=True)
            anchoring.start()
            start = time.perf_counter()
            for resource in resources:
                if resource["resourceType"] == "Patient":
                    node.records.write(resource, patient_address=patient_address)
                else:
                    node.records.write(resource)
            ingest = len(resources) / (time.perf_counter() - start)
            stop.set()
            anchoring.join()
            node.anchorer.anchor_pending()

            ids = [r["id"] for r in resources[:2000]]
            start = time.perf_counter()
            for record_id in ids:
                node.records.read(record_id)
            reads = len(ids) / (time.perf_counter() - start)

            gas_per_record = _gas_per_record_at_full_batch(node)
    conditions = f"{len(resources)} synthetic resources, SQLite (WAL), fsync per blob, 2 recipients (X25519)"
    return [
        Result("record ingest", "resources/s", ingest, conditions + ", anchoring in a background thread"),
        Result("record read by id", "reads/s", reads, "2000 reads, blob CID check + decrypt"),
        Result("anchor gas per record", "gas", gas_per_record, "batch of 1,024 commitments, one anchor tx"),
    ]


def _anchor_until(node: Node, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        node.anchorer.maybe_anchor()


def _gas_per_record_at_full_batch(node: Node) -> float:
    anchor = node.record_anchor()
    for log in anchor.contract.events.Anchored().get_logs(from_block=0):
        if log["args"]["leaf_count"] == 1024:
            receipt = node.chain.w3.eth.get_transaction_receipt(log["transactionHash"])
            return int(receipt["gasUsed"]) / 1024
    raise RuntimeError("no batch of 1,024 was anchored")


BENCHMARKS = [bench_records]
