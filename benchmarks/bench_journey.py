"""A mixed EHR journey through the guarded door, and custodial patients imported in bulk.

Journey: `careledger serve` as its own process (managed anvil, SQLite); a practitioner
the node attested an affiliation to (its care team) signs in with SIWE and, from
`CLIENTS` concurrent clients, registers walk-in patients without wallets (custodial
identities, registered on chain), then for each an Encounter, two Conditions, three
vitals, a search by patient and code, a search by date, and reads by id. Every request
is judged by the access policy and audited.

Import: `record import`'s path for 100 synthetic Patients without wallets: keys made in
bulk under the node's key-encryption key, one pipeline of registrations, one transaction.

Claim: a custodial patient with a chart of `CHART` records claims her identity (code
checked, the registry's hand-over, every data key re-sealed to her key, the key deleted).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import Result
from benchmarks.bench_api import _login
from careledger.access import AFFILIATION, Accessor
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import NODE_WALLET, Home, Settings
from careledger.testdata import scratch_node, synthetic_patients

CLIENTS = 4
JOURNEYS = 15  # per client
IMPORTED = 100
CHART = 200
_LOINC = "http://loinc.org"
_VITALS = "http://terminology.hl7.org/CodeSystem/observation-category"


def bench_journey() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            drbob = node.wallets.create("drbob", Role.PRACTITIONER, "pw")
            registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
            registry.register_actor(drbob.address, drbob.role, drbob.encryption_key)
            expires = node.chain.timestamp() + 86_400
            registry.attest(drbob.address, AFFILIATION, expires)
            account = node.unlock("drbob").account
            chain_id = node.chain.chain_id
            imported = _custodial_import(node)
            claimed = _claim(node)
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            token = _login(server.url, account, chain_id)
            asyncio.run(_journeys(server.url, token, clients=1, journeys=2))  # warm up
            rate, latencies, requests = asyncio.run(_journeys(server.url, token, clients=CLIENTS, journeys=JOURNEYS))
    conditions = f"{CLIENTS} clients x {JOURNEYS} journeys, a care-team practitioner, loopback, anvil, SQLite"
    return [
        Result("EHR journey", "requests/s", rate, f"{requests} requests, {conditions}"),
        Result("EHR journey p50", "ms", statistics.median(latencies), "same"),
        Result("EHR journey p95", "ms", statistics.quantiles(latencies, n=20)[18], "same"),
        Result("custodial import", "s", imported, f"{IMPORTED} Patients without wallets: keys, registration, storage"),
        Result("custodial claim", "s", claimed, f"a chart of {CHART} records re-sealed to her wallet's key, anvil"),
    ]


def _claim(node: Any) -> float:
    """Seconds for a walk-in with a chart of `CHART` records to claim her identity."""
    front_desk = Accessor(node.address)
    patient = node.access.for_caller(front_desk).write(_walk_in(0))
    subject = {"reference": f"Patient/{patient.record_id}"}
    # Dated apart from the journey's vitals, so its searches by date find the same records as before.
    chart = [
        {**_vital(subject, n), "effectiveDateTime": f"2025-03-01T{n // 60:02d}:{n % 60:02d}:00Z"}
        for n in range(CHART - 1)
    ]
    node.access.for_caller(front_desk).store([node._records.prepare(vital) for vital in chart])
    wallet = node.wallets.create("claimant", Role.PATIENT, "pw")
    code = node.claiming.issue(patient.patient_address).code
    start = time.perf_counter()
    claimed = node.claiming.claim(patient.patient_address, code, wallet.address, wallet.encryption_key)
    elapsed = time.perf_counter() - start
    if claimed.resealed != CHART:
        raise RuntimeError(f"re-sealed {claimed.resealed} of {CHART} records")
    return elapsed


def _custodial_import(node: Any) -> float:
    """Seconds to import `IMPORTED` Patients that name no wallet, as `record import` does."""
    patients = [p.patient for p in synthetic_patients(IMPORTED, seed=77)]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "Patient.ndjson"
        source.write_text("\n".join(json.dumps(patient) for patient in patients))
        importer = node.access.for_caller(Accessor(node.address)).importer(patient_wallet=lambda _patient: None)
        start = time.perf_counter()
        report = importer.run(source)
        elapsed = time.perf_counter() - start
    if report.imported != IMPORTED:
        raise RuntimeError(f"imported {report.imported} of {IMPORTED}: {report.refused[:3]}")
    return elapsed


async def _journeys(url: str, token: str, *, clients: int, journeys: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as session:

        async def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            began = time.perf_counter()
            async with session.request(method, path, **kwargs) as response:
                body = await response.json(content_type=None)
                latencies.append((time.perf_counter() - began) * 1e3)
                if response.status >= 300:
                    raise RuntimeError(f"{method} {path}: {response.status} {body}")
                return dict(body)

        async def journey(n: int) -> None:
            patient = await call("POST", "/Patient", json=_walk_in(n))
            subject = {"reference": f"Patient/{patient['id']}"}
            visit = await call("POST", "/Encounter", json=_encounter(subject))
            for code in ("38341003", "44054006"):
                await call("POST", "/Condition", json=_condition(subject, visit["id"], code))
            vitals = [await call("POST", "/Observation", json=_vital(subject, v)) for v in range(3)]
            await call("GET", "/Observation", params={"patient": patient["id"], "code": f"{_LOINC}|8867-4"})
            await call("GET", "/Observation", params={"patient": patient["id"], "date": "2026-11-02"})
            await call("GET", f"/Patient/{patient['id']}")
            for vital in vitals[:2]:
                await call("GET", f"/Observation/{vital['id']}")

        async def client(first: int) -> None:
            for n in range(first, first + journeys):
                await journey(n)

        start = time.perf_counter()
        await asyncio.gather(*(client(c * journeys) for c in range(clients)))
        return len(latencies) / (time.perf_counter() - start), latencies, len(latencies)


def _walk_in(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": f"Walk-in {n}", "given": ["Pat"]}],
        "birthDate": f"19{50 + n % 50}-0{1 + n % 9}-1{n % 10}",
        "identifier": [{"system": "urn:mrn", "value": f"MRN-{n}"}],
    }


def _encounter(subject: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject,
        "period": {"start": "2026-11-02T09:00:00Z", "end": "2026-11-02T09:30:00Z"},
    }


def _condition(subject: dict[str, str], encounter: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
        "subject": subject,
        "encounter": {"reference": f"Encounter/{encounter}"},
    }


def _vital(subject: dict[str, str], n: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": _VITALS, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": _LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": subject,
        "effectiveDateTime": f"2026-11-02T09:{10 + n:02d}:00Z",
        "valueQuantity": {"value": 60 + n, "unit": "beats/minute"},
    }


BENCHMARKS = [bench_journey]
