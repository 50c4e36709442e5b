"""The FHIR API over loopback: creates and reads per second, and read latency.

`careledger serve` runs as its own process (one uvicorn worker, managed anvil chain, SQLite)
and this process is the client (aiohttp: httpx's async client tops out near 1,100 requests/s
here, below what is measured): signed in with SIWE as the patient, it creates
Observations and reads them back through `CONCURRENCY` keep-alive connections. Anchoring is
excluded (`anchor_in_background = false`).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from eth_account.messages import encode_defunct
from siwe import SiweMessage

from benchmarks import Result, registered_wallet
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.testdata import scratch_node, synthetic_patients

CREATES = 1000
READS = 3000
CONCURRENCY = 8
WARM_UP = 200
_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"


def bench_api() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            alice = registered_wallet(node, "alice", Role.PATIENT)
            patient = synthetic_patients(1, seed=5)[0]
            node._records.write(patient.patient, patient_address=alice.address)
            account = node.unlock("alice").account
            chain_id = node.chain.chain_id
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            url = server.url
            token = _login(url, account, chain_id)
            if os.environ.get("CARELEDGER_BENCH_PROFILE"):  # py-spy the server's GIL holder under load
                subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "-f",
                        "raw",
                        "--gil",
                        "-o",
                        os.environ["CARELEDGER_BENCH_PROFILE"],
                        "-d",
                        "12",
                        "-p",
                        str(server.pid),
                    ]
                )
            # Warm up first (imports the FHIR models, fills the caches), as any long-running server is.
            warm = [_observation(patient.patient["id"], i) for i in range(WARM_UP)]
            asyncio.run(_reads(url, token, asyncio.run(_creates(url, token, warm))[1], count=WARM_UP))
            observations = [_observation(patient.patient["id"], i) for i in range(CREATES)]
            creates, ids = asyncio.run(_creates(url, token, observations))
            reads, latencies = asyncio.run(_reads(url, token, ids, count=READS))
    conditions = f"loopback, 1 uvicorn worker, SQLite, {CONCURRENCY} connections, audited, anchoring excluded"
    return [
        Result("API create", "resources/s", creates, f"{CREATES} Observations, {conditions}"),
        Result("API read", "reads/s", reads, f"{READS} reads by id, {conditions}"),
        Result("API read p50", "ms", statistics.median(latencies), "same"),
        Result("API read p99", "ms", statistics.quantiles(latencies, n=100)[98], "same"),
    ]


def _login(url: str, account: object, chain_id: int) -> str:
    nonce = httpx.get(f"{url}/auth/nonce").json()["nonce"]
    message = SiweMessage(
        domain=url.removeprefix("http://"),
        address=account.address,  # type: ignore[attr-defined]
        uri=url,
        version="1",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    ).prepare_message()
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()  # type: ignore[attr-defined]
    response = httpx.post(f"{url}/auth/login", json={"message": message, "signature": "0x" + signature})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _observation(patient_id: str, n: int) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": f"2024-01-{1 + n % 28:02d}T08:00:00Z",
        "valueQuantity": {"value": 60 + n % 40, "unit": "beats/minute"},
    }


async def _creates(url: str, token: str, bodies: list[dict[str, object]]) -> tuple[float, list[str]]:
    ids: list[str] = []
    queue = list(bodies)
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as client:

        async def worker() -> None:
            while queue:
                async with client.post("/Observation", json=queue.pop()) as response:
                    response.raise_for_status()
                    ids.append((await response.json(content_type=None))["id"])

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(bodies) / (time.perf_counter() - start), ids


async def _reads(url: str, token: str, ids: list[str], *, count: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = [ids[i % len(ids)] for i in range(count)]
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as client:

        async def worker() -> None:
            while queue:
                record_id = queue.pop()
                began = time.perf_counter()
                async with client.get(f"/Observation/{record_id}") as response:
                    await response.read()
                    latencies.append((time.perf_counter() - began) * 1e3)
                    response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - start), latencies


BENCHMARKS = [bench_api]
