"""Erasure: a patient's signed request erasing her 1,000-record chart, beside writing the same chart and deleting
another of the same size one record at a time (`record delete`'s tombstones), all measured in the same run.

A node in a temporary home (SQLite, blobs as files, managed anvil chain); each chart is synthetic patients'
resources imported under one patient's wallet, then anchored. The erasure is what `record erase --all --yes`
does: her request signed, checked, planned (her audit entries read for the nodes that fetched copies), every
version's keys, blobs and tokens destroyed in one transaction with SQLite's secure_delete on, and the database's
write-ahead log truncated; no other node fetched copies, so none is asked.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks import Result
from careledger.access import Accessor
from careledger.chain import Role
from careledger.config import Settings
from careledger.consent import Purpose
from careledger.node import Node
from careledger.records import Importer, Resource
from careledger.testdata import scratch_node, synthetic_patients

CHART = 1000


def bench_erasure() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", Settings(light_kdf=True)) as node:
        node.unlock()  # the node wallet decrypted now, not inside the timed part
        alice = node.wallets.create("alice", Role.PATIENT, "pw").address
        bob = node.wallets.create("bob", Role.PATIENT, "pw").address
        charts = _charts()
        written = _import(node, Path(tmp), "alice", charts[0], alice)
        _import(node, Path(tmp), "bob", charts[1], bob)
        node.anchorer.anchor_pending()
        account = node.unlock("alice").account

        started = time.perf_counter()
        done = node.erasure.erase(node.erasure.sign(node.erasure.request(alice, None), account))
        erased = time.perf_counter() - started

        doors = node.access.for_caller(Accessor(node.address, Purpose.HOPERAT))
        ids = [resource["id"] for resource in charts[1]]
        started = time.perf_counter()
        for record_id in ids:
            doors.delete(record_id)
        deleted = time.perf_counter() - started
    assert len(done.erased) == CHART, len(done.erased)
    conditions = f"{CHART:,} records ({done.versions:,} versions), SQLite (WAL), blobs as files, none fetched elsewhere"
    return [
        Result("erasure of a 1,000-record chart", "s", erased, f"{conditions}; signed request to the last byte"),
        Result("baseline: writing the same chart", "s", written, "record import of its 1,000 resources, same run"),
        Result("baseline: deleting a chart one by one", "s", deleted, "1,000 record deletes (tombstones), same run"),
    ]


def _charts() -> list[list[Resource]]:
    """Two charts of `CHART` resources each, from different synthetic patients, each patient whole."""
    charts: list[list[Resource]] = [[], []]
    for patient in synthetic_patients(400, seed=19):
        chart = charts[0] if len(charts[0]) < CHART else charts[1]
        chart.extend(patient.resources)
        if len(charts[1]) >= CHART:
            break
    return [chart[:CHART] for chart in charts]


def _import(node: Node, tmp: Path, name: str, chart: list[Resource], owner: str) -> float:
    """Import `chart` under `owner`'s wallet (every Patient in it is hers); how long it took."""
    source = tmp / f"{name}.ndjson"
    source.write_text("\n".join(json.dumps(resource) for resource in chart))
    importer = Importer(node._records, patient_wallet=lambda _patient: owner)
    started = time.perf_counter()
    report = importer.run(source)
    assert report.imported == len(chart), report
    assert not report.refused, report
    return time.perf_counter() - started


BENCHMARKS = [bench_erasure]
