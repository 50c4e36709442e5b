"""Records: ingest and read rates, and gas per anchored record.

A node in a temporary home (SQLite, managed anvil chain); synthetic patients from
`careledger.testdata`. Ingest validates, encrypts, seals to the patient and the node,
writes the blob (fsync) and the rows, while a background thread anchors what is pending,
as a serving node does: bulk ingest is `record import` of an NDJSON file (a chunk of
resources per transaction), single writes are `RecordService.write` one at a time.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import Result
from careledger.chain import Role
from careledger.config import Settings
from careledger.node import Node
from careledger.records import Importer, Resource
from careledger.testdata import scratch_node, synthetic_patients

TARGET_RESOURCES = 3000
SINGLE_WRITES = 500


def bench_records() -> list[Result]:
    settings = Settings(light_kdf=True, anchor_batch_size=1024)
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", settings) as node:
        patient_address = node.wallets.create("alice", Role.PATIENT, "pw").address
        node.unlock()  # decrypt the node wallet now, not inside the timed part
        resources = []
        for patient in synthetic_patients(200, seed=7):
            resources.extend(patient.resources)
            if len(resources) >= TARGET_RESOURCES:
                break
        source = Path(tmp) / "resources.ndjson"
        source.write_text("\n".join(json.dumps(resource) for resource in resources))
        importer = Importer(node._records, patient_wallet=lambda _patient: patient_address)
        with _anchoring_in_background(node):
            start = time.perf_counter()
            report = importer.run(source)
            ingest = report.imported / (time.perf_counter() - start)
            singles = _single_writes(node, resources[:SINGLE_WRITES])
        node.anchorer.anchor_pending()

        ids = [r["id"] for r in resources[:2000]]
        start = time.perf_counter()
        for record_id in ids:
            node._records.read(record_id)
        reads = len(ids) / (time.perf_counter() - start)

        gas_per_record = _gas_per_record_at_full_batch(node)
    conditions = "synthetic resources, SQLite (WAL), blobs fsynced, 2 recipients (X25519), anchoring in background"
    return [
        Result("record ingest (import)", "resources/s", ingest, f"{len(resources)} {conditions}, 256 a transaction"),
        Result("record write, one at a time", "resources/s", singles, f"{SINGLE_WRITES} {conditions}"),
        Result("record read by id", "reads/s", reads, "2000 reads, blob CID check + decrypt"),
        Result("anchor gas per record", "gas", gas_per_record, "batch of 1,024 commitments, one anchor tx"),
    ]


@contextmanager
def _anchoring_in_background(node: Node) -> Iterator[None]:
    stop = threading.Event()

    def anchor_until_stopped() -> None:
        while not stop.wait(0.5):
            node.anchorer.maybe_anchor()

    anchoring = threading.Thread(target=anchor_until_stopped, daemon=True)
    anchoring.start()
    try:
        yield
    finally:
        stop.set()
        anchoring.join()


def _single_writes(node: Node, resources: list[Resource]) -> float:
    """New versions of resources already stored, one write (one transaction) each."""
    start = time.perf_counter()
    for resource in resources:
        node._records.write(resource)
    return len(resources) / (time.perf_counter() - start)


def _gas_per_record_at_full_batch(node: Node) -> float:
    anchor = node.contracts.record_anchor()
    for log in anchor.contract.events.Anchored().get_logs(from_block=0):
        if log["args"]["leaf_count"] == 1024:
            receipt = node.chain.w3.eth.get_transaction_receipt(log["transactionHash"])
            return int(receipt["gasUsed"]) / 1024
    raise RuntimeError("no batch of 1,024 was anchored")


BENCHMARKS = [bench_records]
