"""Research: de-identification throughput in process (beside a JSON round trip of the same resources, the least any
transform of them costs), and on two served nodes over one anvil chain: a differentially private count end to end
(beside a bare HTTP round trip to the same servers), and the gas of an opt-in and of a payout batch."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx

from benchmarks import Result
from careledger.api import NodeProcess, free_port
from careledger.chain import ChainEvent, open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.node import Node
from careledger.research import AggregateQuery, release
from careledger.testdata import PASSPHRASE, STUDY_REWARD, founding_node, joining_node, set_up_study, synthetic_patients

PATIENTS = 300
ROUNDS = 3


def bench_research() -> list[Result]:
    resources = [r for p in synthetic_patients(PATIENTS, seed=9) for r in p.resources]
    key = bytes(range(32))
    best_release = best_copy = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        released = release(resources, key, today=date(2026, 11, 29))
        best_release = min(best_release, time.perf_counter() - started)
        started = time.perf_counter()
        for resource in resources:
            json.loads(json.dumps(resource))
        best_copy = min(best_copy, time.perf_counter() - started)
    conditions = f"{len(resources):,} synthetic resources of {PATIENTS} patients, k=5, one core, best of {ROUNDS}"
    return [
        Result(
            "de-identification (Safe Harbor + k-anonymity)", "resources/s", len(resources) / best_release, conditions
        ),
        Result("baseline: JSON round trip", "resources/s", len(resources) / best_copy, "same resources, same run"),
        Result("de-identification: patients released", "patients", released.report.patients, f"of {PATIENTS}"),
    ]


PER_NODE = 20
QUERIES = 10


def bench_study() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, open_chain("anvil", chain_dir=Path(tmp) / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        ports = free_port(), free_port()
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        hospital = founding_node(Path(tmp) / "hospital", settings, endpoint=urls[0])
        clinic = joining_node(Path(tmp) / "clinic", settings, hospital, endpoint=urls[1])
        try:
            setup = set_up_study(hospital, clinic, per_node=PER_NODE, budget=2 * PER_NODE * STUDY_REWARD)
            study_id = setup.study.study_id
            hospital.studies.approve(setup.board.name, study_id)
            opt_in = _gas_of_joins(hospital, study_id, setup.hospital_patients)
            _gas_of_joins(clinic, study_id, setup.clinic_patients[1:])
            with (
                NodeProcess(hospital.home, ports[0], passphrase=PASSPHRASE).start(),
                NodeProcess(clinic.home, ports[1], passphrase=PASSPHRASE).start(),
            ):
                clinic.studies.gather_release(setup.sponsor.name, study_id)
                payout = _gas_of_release(hospital)
                query = AggregateQuery("count", 0.01)
                counts = _timed(QUERIES, lambda: clinic.studies.gather_query(setup.sponsor.name, study_id, query))
                with httpx.Client() as http:
                    bare = _timed(QUERIES, lambda: [http.get(f"{url}/.well-known/smart-configuration") for url in urls])
        finally:
            clinic.close()
            hospital.close()
    conditions = f"2 served nodes, {PER_NODE} participants each, anvil, loopback; p50 of {QUERIES} after one warm-up"
    return [
        Result("two-node DP count end to end p50", "ms", counts, conditions),
        Result("baseline: GET smart-configuration of both nodes p50", "ms", bare, "same servers, same run"),
        Result("gas per opt-in (participate_by_signature)", "gas", opt_in, "a patient's first, signed, node pays"),
        Result("gas per payout in a batched release", "gas", payout, f"record_release naming {PER_NODE} patients"),
    ]


def _gas_of_joins(node: Node, study_id: int, patients: list[str]) -> float:
    for patient in patients:
        node.studies.join(NODE_WALLET, study_id, patient)
    return statistics.median(gas for gas, _ in _gas_of(node, "ParticipationChanged"))


def _gas_of_release(node: Node) -> float:
    """Gas per patient paid of the node's (one-batch) release."""
    gas, event = _gas_of(node, "DatasetReleased")[-1]
    return gas / event.args["patients"]


def _gas_of(node: Node, name: str) -> list[tuple[int, ChainEvent]]:
    research = node.contracts.research()
    w3 = node.chain.w3
    found = []
    for log in w3.eth.get_logs({"address": research.address, "fromBlock": 0}):
        event = research.decode(log)
        if event is not None and event.name == name:
            found.append((int(w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"]), event))
    return found


def _timed(rounds: int, work: Callable[[], object]) -> float:
    work()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


BENCHMARKS = [bench_research, bench_study]
