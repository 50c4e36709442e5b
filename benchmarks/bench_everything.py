"""`Patient/{id}/$everything` of a 2,000-record chart: the first page, beside a search's first page of that chart.

`careledger serve` runs as its own process (one uvicorn worker, managed anvil chain, SQLite,
anchoring excluded) holding one patient's chart of 2,000 records (her Patient and 1,999
Observations), all her wallet's, so the signed-in patient may see every one. The client asks,
one request at a time, for the first page (50, the default) of her `$everything`, then for
the first page of `Observation?patient=…`, the baseline measured in the same run. A page
decrypts only itself, so both should cost about the same; for scale, the same search sorted
by a decrypted value (`_sort=-value-quantity`, which opens the whole chart) is measured too.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import Result, registered_wallet
from benchmarks.bench_api import _login
from benchmarks.bench_search import _p95
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.testdata import scratch_node

RECORDS = 2_000
ROUNDS = 200
WHOLE_CHART_ROUNDS = 10  # each opens 2,000 records


def _chart(patient_id: str) -> list[dict[str, Any]]:
    """Her Patient and `RECORDS - 1` heart-rate Observations about her."""
    subject = {"reference": f"Patient/{patient_id}"}
    observations = [
        {
            "resourceType": "Observation",
            "status": "final",
            "subject": subject,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "valueQuantity": {"value": 50 + n % 70, "unit": "/min", "system": "http://unitsofmeasure.org"},
        }
        for n in range(RECORDS - 1)
    ]
    return [{"resourceType": "Patient", "id": patient_id, "name": [{"family": "Chart"}]}, *observations]


def bench_everything() -> list[Result]:
    patient_id = "chart-2000"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            alice = registered_wallet(node, "alice", Role.PATIENT)
            chart = _chart(patient_id)
            for start in range(0, len(chart), 250):
                drafts = [node._records.prepare(r, patient_address=alice.address) for r in chart[start : start + 250]]
                node._records.store(drafts)
            account = node.unlock("alice").account
            chain_id = node.chain.chain_id
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            token = _login(server.url, account, chain_id)
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
                everything = _latencies(client, f"/Patient/{patient_id}/$everything", {}, ROUNDS)
                search = _latencies(client, "/Observation", {"patient": patient_id}, ROUNDS)
                sorted_search = {"patient": patient_id, "_sort": "-value-quantity"}
                whole = _latencies(client, "/Observation", sorted_search, WHOLE_CHART_ROUNDS)
                page = client.get(f"/Patient/{patient_id}/$everything").json()
    conditions = f"{RECORDS} records, 1 uvicorn worker, SQLite, one request at a time, {ROUNDS} rounds"
    entries = f"{len(page['entry'])} of {page['total']} entries"
    return [
        Result("$everything first page p50", "ms", statistics.median(everything), f"{conditions}; {entries}"),
        Result("$everything first page p95", "ms", _p95(everything), "same"),
        Result("search first page p50 (Observation?patient)", "ms", statistics.median(search), "same; baseline"),
        Result("search first page p95 (Observation?patient)", "ms", _p95(search), "same"),
        Result(
            "search sorted by value p50 (opens the chart)",
            "ms",
            statistics.median(whole),
            f"{WHOLE_CHART_ROUNDS} rounds; what every first page cost before",
        ),
    ]


def _latencies(client: httpx.Client, path: str, params: dict[str, str], rounds: int) -> list[float]:
    client.get(path, params=params).raise_for_status()  # warm
    latencies = []
    for _ in range(rounds):
        start = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


BENCHMARKS = [bench_everything]
