"""The EHR journey on PostgreSQL: a plain FHIR server against `careledger serve` (issue 37).

One run, one machine, one fresh PostgreSQL database holding both servers' tables:

    4 users ─┬─▶ plain_fhir.py (FastAPI, JSONB, no consent/audit/chain)   ─┐
             ├─▶ careledger serve, 1 worker  (managed anvil, anchoring on)  ├─▶ req/s, p50/p95/p99, ratio
             └─▶ careledger serve --workers 2                             ─┘

Each user, until `SECONDS` have passed (`CARELEDGER_BENCH_SECONDS`, 20 by default; less for a
smoke run), walks a patient through the journey: register her (a walk-in without a wallet,
so CareLedger makes her a custodial identity on chain), admit her (Encounter), two diagnoses
(Condition), an allergy, a procedure, three vitals (Observation), three searches (vitals by
code, vitals by day, her Conditions) and three reads by id. CareLedger's user is a care-team
practitioner signed in with SIWE; every request is judged by the access policy and audited.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import Result, baseline_server, fresh_database, registered_wallet
from benchmarks.bench_api import _login
from benchmarks.bench_journey import _LOINC, _condition, _encounter, _vital, _walk_in
from careledger.access import AFFILIATION
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import NODE_WALLET, Home, Settings
from careledger.testdata import scratch_node

USERS = 4
_HL7 = "http://terminology.hl7.org/CodeSystem"
WORKERS = (1, 2)
SECONDS = float(os.environ.get("CARELEDGER_BENCH_SECONDS", "20"))


@dataclass(frozen=True, slots=True)
class Run:
    """What one server did under the journey."""

    server: str
    rate: float
    latencies: list[float]

    def percentile(self, p: int) -> float:
        """The p-th percentile of the requests' latencies, in ms."""
        return statistics.quantiles(self.latencies, n=100)[p - 1]


def bench_ehr() -> list[Result]:
    with fresh_database() as url, tempfile.TemporaryDirectory() as tmp:
        with baseline_server(url, free_port()) as plain_url:
            runs = [_run("plain FHIR server", plain_url, "none")]
        home, account, chain_id = _careledger_home(Path(tmp) / "home", url)
        for workers in WORKERS:
            with _serve(home, workers) as server:
                token = _login(server.url, account, chain_id)
                runs.append(_run(f"careledger serve, {workers} worker(s)", server.url, token))
    plain = runs[0]
    conditions = f"{USERS} users for {SECONDS:g} s, loopback, PostgreSQL, one run"
    results = []
    for run in runs:
        rate_ratio = f"{run.rate / plain.rate:.2f}x the plain server's req/s"
        p95_ratio = f"{run.percentile(95) / plain.percentile(95):.2f}x its p95"
        results += [
            Result(
                f"EHR journey, {run.server}", "requests/s", run.rate, f"{len(run.latencies)} requests, {conditions}"
            ),
            Result(f"EHR journey p50/p95/p99, {run.server}", "ms", run.percentile(95), _spread(run)),
        ]
        if run is not plain:
            results.append(
                Result(f"EHR journey ratio, {run.server}", "x", run.rate / plain.rate, f"{rate_ratio}, {p95_ratio}")
            )
    return results


def _spread(run: Run) -> str:
    return f"p95; p50 {statistics.median(run.latencies):.1f}, p99 {run.percentile(99):.1f} ms"


def _careledger_home(path: Path, url: str) -> tuple[Home, Any, int]:
    """A node's home on the database at `url`, with a care-team practitioner: (home, her account, chain id)."""
    with scratch_node(path, Settings(db=url, light_kdf=True)) as node:
        drbob = registered_wallet(node, "drbob", Role.PRACTITIONER)
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        registry.attest(drbob.address, AFFILIATION, node.chain.timestamp() + 86_400)
        return Home(path), node.unlock("drbob").account, node.chain.chain_id


@contextmanager
def _serve(home: Home, workers: int) -> Iterator[NodeProcess]:
    process = NodeProcess(home, free_port(), passphrase="pw", workers=workers)
    with process.start():
        yield process


def _run(server: str, url: str, token: str) -> Run:
    asyncio.run(_journeys(url, token, users=1, seconds=min(2.0, SECONDS / 4)))  # warm up
    rate, latencies = asyncio.run(_journeys(url, token, users=USERS, seconds=SECONDS))
    return Run(server, rate, latencies)


async def _journeys(url: str, token: str, *, users: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as session:

        async def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            began = time.perf_counter()
            async with session.request(method, path, **kwargs) as response:
                body = await response.read()
                latencies.append((time.perf_counter() - began) * 1e3)
                if response.status >= 300:
                    raise RuntimeError(f"{method} {path}: {response.status} {body[:500]!r}")
                return dict(json.loads(body))

        async def journey(n: int) -> None:
            patient = await call("POST", "/Patient", json=_walk_in(n))
            subject = {"reference": f"Patient/{patient['id']}"}
            visit = await call("POST", "/Encounter", json=_encounter(subject))
            for code in ("38341003", "44054006"):
                await call("POST", "/Condition", json=_condition(subject, visit["id"], code))
            await call("POST", "/AllergyIntolerance", json=_allergy(subject))
            await call("POST", "/Procedure", json=_procedure(subject, visit["id"]))
            vitals = [await call("POST", "/Observation", json=_vital(subject, v)) for v in range(3)]
            searches = [
                ("Observation", {"code": f"{_LOINC}|8867-4"}, 3),
                ("Observation", {"date": "2026-11-02"}, 3),
                ("Condition", {}, 2),
            ]
            for kind, params, expected in searches:
                found = await call("GET", f"/{kind}", params={"patient": patient["id"], **params})
                if len(found.get("entry", [])) != expected:
                    raise RuntimeError(f"{kind}?{params} found {len(found.get('entry', []))}, not {expected}")
            await call("GET", f"/Patient/{patient['id']}")
            for vital in vitals[:2]:
                await call("GET", f"/Observation/{vital['id']}")

        async def user(first: int) -> None:
            n = first
            while time.perf_counter() < deadline:
                await journey(n)
                n += users

        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(user(u) for u in range(users)))
        return len(latencies) / (time.perf_counter() - start), latencies


def _allergy(subject: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Penicillin"}]},
        "patient": subject,
        "recordedDate": "2026-11-02",
    }


def _procedure(subject: dict[str, str], encounter: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "80146002", "display": "Appendectomy"}]},
        "subject": subject,
        "encounter": {"reference": f"Encounter/{encounter}"},
        "performedDateTime": "2026-11-02T09:15:00Z",
    }


BENCHMARKS = [bench_ehr]
