"""FHIR search over the specification's parameters: latency of a page, with and without `_include`.

`careledger serve` runs as its own process (one uvicorn worker, managed anvil chain, SQLite,
anchoring excluded) holding 40 synthetic patients' records, all one patient's wallet's so
the signed-in patient may see every one. The client asks, one request at a time, for a
page of 50 Observations of one patient by code and date range, sorted by date, then the
same page with `_include=Observation:subject` (through
the guarded repository, so each included record is judged and audited too). The plain
search is the baseline measured in the same run.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import Result, registered_wallet
from benchmarks.bench_api import _login
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.testdata import scratch_node, synthetic_patients

PATIENTS = 40
ROUNDS = 200


def bench_search() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            alice = registered_wallet(node, "alice", Role.PATIENT)
            patients = synthetic_patients(PATIENTS, seed=11)
            for patient in patients:
                node._records.store(
                    [node._records.prepare(r, patient_address=alice.address) for r in patient.resources]
                )
            stored = len(node._records.list())
            account = node.unlock("alice").account
            chain_id = node.chain.chain_id
        busiest = max(patients, key=lambda p: sum(r["resourceType"] == "Observation" for r in p.resources))
        params = {"patient": busiest.patient["id"], "date": "ge1900", "_sort": "-date", "_count": "50"}
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            token = _login(server.url, account, chain_id)
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
                plain = _latencies(client, params)
                included = _latencies(client, {**params, "_include": "Observation:subject"})
                page = client.get("/Observation", params={**params, "_include": "Observation:subject"}).json()
    entries = len(page.get("entry", []))
    conditions = f"{stored} records, 1 uvicorn worker, SQLite, one request at a time, {ROUNDS} rounds"
    return [
        Result("search p50, no _include", "ms", statistics.median(plain), f"{conditions}; baseline"),
        Result("search p95, no _include", "ms", _p95(plain), "same"),
        Result("search p50, _include subject", "ms", statistics.median(included), f"{conditions}, {entries} entries"),
        Result("search p95, _include subject", "ms", _p95(included), "same"),
    ]


def _latencies(client: httpx.Client, params: dict[str, str]) -> list[float]:
    client.get("/Observation", params=params).raise_for_status()  # warm
    latencies = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        client.get("/Observation", params=params).raise_for_status()
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def bench_hidden_search() -> list[Result]:
    """A stranger's search that matches only records she may not see, against one that matches nothing,
    interleaved in random order: the two must take the same time (no timing tells what is hidden). The
    patient's own search for the same code, beside them, is the baseline of a search that shows records."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            alice = registered_wallet(node, "alice", Role.PATIENT)
            registered_wallet(node, "stranger", Role.ORG)
            patients = synthetic_patients(PATIENTS, seed=11)
            for patient in patients:
                node._records.store(
                    [node._records.prepare(r, patient_address=alice.address) for r in patient.resources]
                )
            codes = [
                r["code"]["coding"][0]["code"]
                for p in patients
                for r in p.resources
                if r["resourceType"] == "Condition"
            ]
            common = max(set(codes), key=codes.count)
            accounts = {name: node.unlock(name).account for name in ("alice", "stranger")}
            chain_id = node.chain.chain_id
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            tokens = {name: _login(server.url, account, chain_id) for name, account in accounts.items()}
            hidden, nothing, shown = [], [], []
            with httpx.Client(base_url=server.url) as client:
                asks = [
                    (hidden, "stranger", common),
                    (nothing, "stranger", "no-such-code"),
                    (shown, "alice", common),
                ]
                for _ in range(ROUNDS):
                    random.shuffle(asks)
                    for sink, who, code in asks:
                        headers = {"Authorization": f"Bearer {tokens[who]}"}
                        start = time.perf_counter()
                        client.get("/Condition", params={"code": code}, headers=headers).raise_for_status()
                        sink.append((time.perf_counter() - start) * 1000)
    matching = f"{codes.count(common)} Conditions of {PATIENTS} patients match; interleaved, {ROUNDS} rounds"
    return [
        Result("search matching only hidden records p50", "ms", statistics.median(hidden), matching),
        Result("search matching only hidden records p95", "ms", _p95(hidden), "same"),
        Result("search matching nothing p50", "ms", statistics.median(nothing), "same; must not differ from hidden"),
        Result("search matching nothing p95", "ms", _p95(nothing), "same"),
        Result("search the patient may see p50", "ms", statistics.median(shown), "same code, her own; baseline"),
        Result("search the patient may see p95", "ms", _p95(shown), "same"),
    ]


BENCHMARKS = [bench_search, bench_hidden_search]
