"""Blob stores on PostgreSQL: record ingest, single writes and reads with blobs as files, then as rows.

The same node (PostgreSQL in a fresh database, memory chain, nothing anchored while timed) and the
same synthetic resources twice, `blob_store = "files"` then `"database"`: what keeping blobs where
every worker reaches them costs on the record path.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks import Result, fresh_database
from careledger.chain import Role
from careledger.config import Settings
from careledger.records import Importer
from careledger.store import BLOB_STORE_KINDS, BlobStoreKind
from careledger.testdata import scratch_node, synthetic_patients

TARGET_RESOURCES = 1500
SINGLE_WRITES = 300
READS = 1000


def bench_blob_stores() -> list[Result]:
    resources = []
    for patient in synthetic_patients(100, seed=7):
        resources.extend(patient.resources)
        if len(resources) >= TARGET_RESOURCES:
            break
    results = []
    for kind in BLOB_STORE_KINDS:
        ingest, singles, reads = _measure(kind, resources)
        conditions = f"blob_store = {kind}, PostgreSQL, 2 recipients (X25519)"
        results += [
            Result(f"record ingest, blobs in {kind}", "resources/s", ingest, f"{len(resources)}, {conditions}"),
            Result(f"record write one at a time, blobs in {kind}", "resources/s", singles, conditions),
            Result(f"record read by id, blobs in {kind}", "reads/s", reads, f"{READS} reads, {conditions}"),
        ]
    return results


def _measure(kind: BlobStoreKind, resources: list[dict[str, object]]) -> tuple[float, float, float]:
    """Ingest (import), single writes and reads by id on a node keeping its blobs in `kind`."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database() as url:
        settings = Settings(chain="memory", db=url, blob_store=kind, light_kdf=True, anchor_in_background=False)
        with scratch_node(Path(tmp) / "home", settings) as node:
            patient_address = node.wallets.create("alice", Role.PATIENT, "pw").address
            node.unlock()  # decrypt the node wallet now, not inside the timed part
            source = Path(tmp) / "resources.ndjson"
            source.write_text("\n".join(json.dumps(resource) for resource in resources))
            importer = Importer(node._records, patient_wallet=lambda _patient: patient_address)
            start = time.perf_counter()
            report = importer.run(source)
            ingest = report.imported / (time.perf_counter() - start)
            start = time.perf_counter()
            for resource in resources[:SINGLE_WRITES]:
                node._records.write(resource)
            singles = SINGLE_WRITES / (time.perf_counter() - start)
            ids = [str(resource["id"]) for resource in resources[:READS]]
            start = time.perf_counter()
            for record_id in ids:
                node._records.read(record_id)
            reads = len(ids) / (time.perf_counter() - start)
    return ingest, singles, reads


BENCHMARKS = [bench_blob_stores]
