"""Insight (issue 39): scores per second, CDS Hooks `patient-view` p95 with prefetch and without, a federated round
on three nodes; each beside a plain FHIR search of the same patients in the same run.

- **Scores**: `PATIENTS` patients (cycling over a pool of synthetic charts, nothing cached): facts built from the
  chart's resources and every score in `SCORES` computed, in process; and, apart, every score of `PATIENTS` patients
  from facts built beforehand (what the scores alone cost). Then `STORED` of them stored in a node (SQLite,
  one patient's wallet holding all, as bench_search does): every score through her door (one compartment search,
  judged and audited, then the scores), beside the node's Observation search by patient through the same door.
- **patient-view**: `careledger serve` (one worker, SQLite), a CDS client registered with its key; each request
  signed with a new JWT (ES384, made before the clock starts). With prefetch: the templates' data, fetched once from
  the node as an EHR would. Without: `fhirAuthorization` (the patient's token), so the service reads through the
  door. Beside them, `GET /Observation?patient=` of the same patient with the same token. Interleaved.
- **Federated round**: three in-process nodes on one memory chain, scikit-learn's breast cancer data charted on
  them as FHIR, an approved study; a run of one round and of three (SecAgg+ and DP as in production), the round's
  time their difference over two. Beside it, each node's Observation search of each of its participants.

`CARELEDGER_BENCH_PATIENTS`, `CARELEDGER_BENCH_STORED` and `CARELEDGER_BENCH_ROUNDS` shorten a run (smoke tests).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from benchmarks import Result, registered_wallet
from benchmarks.bench_api import _login
from benchmarks.bench_search import _p95
from careledger.access import Accessor
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.consent import Purpose
from careledger.insight._gather import facts_from_resources
from careledger.insight.scores import SCORES
from careledger.node import Node
from careledger.records import SearchQuery
from careledger.testdata import SyntheticPatient, scratch_node, synthetic_patients

PATIENTS = int(os.environ.get("CARELEDGER_BENCH_PATIENTS", "10000"))
STORED = int(os.environ.get("CARELEDGER_BENCH_STORED", "100"))
ROUNDS = int(os.environ.get("CARELEDGER_BENCH_ROUNDS", "100"))
POOL = 500  # distinct synthetic charts the scored patients cycle over
PATIENT_VIEW = "careledger-patient-view"
ISS = "https://ehr.bench.example.org"
SETTINGS = Settings(light_kdf=True, anchor_in_background=False)


def bench_insight_scores() -> list[Result]:
    pool = synthetic_patients(min(POOL, PATIENTS, max(STORED, 1) * 5), seed=39)
    today = date.today()
    start = time.perf_counter()
    for n in range(PATIENTS):
        chart = pool[n % len(pool)]
        facts = facts_from_resources(chart.patient, chart.resources, today)
        for score in SCORES:
            score.assess(facts)
    computed = PATIENTS / (time.perf_counter() - start)
    ready = [facts_from_resources(chart.patient, chart.resources, today) for chart in pool]
    start = time.perf_counter()
    for n in range(PATIENTS):
        facts = ready[n % len(ready)]
        for score in SCORES:
            score.assess(facts)
    scored = PATIENTS / (time.perf_counter() - start)
    stored = pool[:STORED]
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", SETTINGS) as node:
        door = node.access.for_caller(Accessor(_store(node, stored), Purpose.PATRQT))
        ids = [str(chart.patient["id"]) for chart in stored]
        search = _rate(ids, lambda pid: door.search(SearchQuery(resource_type="Observation", patient_id=pid)))
        assessed = _rate(ids, lambda pid: node.insight.assess(door, pid))
    charts = f"{len(pool)} distinct synthetic charts"
    return [
        Result(
            "insight: all scores from resources",
            "patients/s",
            computed,
            f"{PATIENTS:,} patients over {charts}, facts + {len(SCORES)} scores each, one thread",
        ),
        Result(
            "insight: all scores from ready facts",
            "patients/s",
            scored,
            f"same patients, facts built beforehand (not timed): the {len(SCORES)} scores alone",
        ),
        Result(
            "insight: all scores through the door",
            "patients/s",
            assessed,
            f"{len(ids)} stored patients, SQLite; compartment search (judged, audited) + scores",
        ),
        Result("FHIR Observation search by patient", "patients/s", search, "same patients, node and door; baseline"),
    ]


def bench_cds_patient_view() -> list[Result]:
    key = ec.generate_private_key(ec.SECP384R1())
    kid = uuid.uuid4().hex[:12]
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": kid, "alg": "ES384", "use": "sig"}
    charts = synthetic_patients(20, seed=41)
    chart = max(charts, key=lambda c: sum(r["resourceType"] == "Observation" for r in c.resources))
    pid = str(chart.patient["id"])
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, SETTINGS) as node:
            _store(node, charts)
            node.cds.clients.add(ISS, jwks={"keys": [jwk]})
            account = node.unlock("alice").account
            chain_id = node.chain.chain_id
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            url = server.url
            bearer = {"Authorization": f"Bearer {_login(url, account, chain_id)}"}
            with httpx.Client(base_url=url, headers=bearer, timeout=60) as client:
                prefetch = _prefetch(client, pid)
                hook = f"{url}/cds-services/{PATIENT_VIEW}"
                fetched = {"fhirServer": url, "fhirAuthorization": _authorization(bearer, pid)}
                asks: list[tuple[list[float], Callable[[], Callable[[], httpx.Response]]]] = []
                timed: dict[str, list[float]] = {"prefetch": [], "fetch": [], "search": []}
                for name, body in (("prefetch", {"prefetch": prefetch}), ("fetch", fetched)):
                    asks.append((timed[name], _hook_call(client, hook, key, kid, pid, body)))
                search = {"patient": pid}
                asks.append((timed["search"], lambda: lambda: client.get("/Observation", params=search)))
                for _, ask in asks:
                    warm = ask()()
                    assert warm.status_code == 200, warm.text[:500]
                for _ in range(ROUNDS):
                    random.shuffle(asks)
                    for sink, ask in asks:
                        send = ask()  # a hook call's JWT is signed here, before the clock starts
                        start = time.perf_counter()
                        send().raise_for_status()
                        sink.append((time.perf_counter() - start) * 1000)
    observations = sum(r["resourceType"] == "Observation" for r in chart.resources)
    conditions = f"{observations} Observations of one patient, 1 uvicorn worker, SQLite, {ROUNDS} rounds interleaved"
    return [
        Result("CDS patient-view p95, with prefetch", "ms", _p95(timed["prefetch"]), conditions),
        Result("CDS patient-view p95, fhirAuthorization", "ms", _p95(timed["fetch"]), "same; read through the door"),
        Result("FHIR Observation search by patient p95", "ms", _p95(timed["search"]), "same patient; baseline"),
    ]


def bench_federated_round() -> list[Result]:
    try:
        from benchmarks._federation import federation
    except ImportError as exc:  # the federated package not in this checkout yet
        return [Result("federated round, 3 nodes", "s", float("nan"), f"not available: {exc}")]
    with federation() as run:
        run.train(1)  # warm: the first run's imports and caches are not a round's cost
        one = run.train(1)
        three = run.train(3)
        searched = run.search_participants()
    conditions = f"{run.participants} participants on 3 nodes, memory chain, SecAgg+ and DP"
    return [
        Result("federated round, 3 nodes", "s", (three - one) / 2, f"{conditions}; (3 rounds - 1 round) / 2"),
        Result("federated run of 1 round, 3 nodes", "s", one, "same; with opening the rows and the evaluation"),
        Result("FHIR Observation search, each participant", "s", searched, "same patients, each node; baseline"),
    ]


def _store(node: Node, charts: list[SyntheticPatient]) -> str:
    """Store `charts` under one patient's wallet (she may see them all); her address."""
    alice = registered_wallet(node, "alice", Role.PATIENT)
    for chart in charts:
        node._records.store([node._records.prepare(r, patient_address=alice.address) for r in chart.resources])
    return alice.address


def _rate(ids: list[str], work: Callable[[str], object]) -> float:
    """Patients per second that `work` handles, one after another (after one to warm up)."""
    work(ids[0])
    start = time.perf_counter()
    for pid in ids:
        work(pid)
    return len(ids) / (time.perf_counter() - start)


def _prefetch(client: httpx.Client, pid: str) -> dict[str, Any]:
    """What an EHR prefetches for patient-view by the service's discovery templates, fetched from the node."""
    (service,) = [s for s in client.get("/cds-services").json()["services"] if s["id"] == PATIENT_VIEW]
    found = {}
    for name, template in service["prefetch"].items():
        response = client.get("/" + template.replace("{{context.patientId}}", pid))
        response.raise_for_status()
        found[name] = response.json()
    return found


def _authorization(bearer: dict[str, str], pid: str) -> dict[str, Any]:
    """fhirAuthorization as the spec writes it: the patient's own token, for the service to read with."""
    token = bearer["Authorization"].removeprefix("Bearer ")
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
        "patient": pid,
    }


def _hook_call(
    client: httpx.Client, hook: str, key: ec.EllipticCurvePrivateKey, kid: str, pid: str, more: dict[str, Any]
) -> Callable[[], Callable[[], httpx.Response]]:
    """A call of the patient-view hook made ready: its body and a JWT of its own (a jti is used once), signed
    before the call is sent (and timed)."""
    context = {"userId": "Practitioner/example", "patientId": pid}

    def ready() -> Callable[[], httpx.Response]:
        body = {"hookInstance": str(uuid.uuid4()), "hook": "patient-view", "context": context, **more}
        headers = {"Authorization": f"Bearer {_jwt(key, kid, hook)}"}
        return lambda: client.post(hook, json=body, headers=headers)

    return ready


def _jwt(key: ec.EllipticCurvePrivateKey, kid: str, audience: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": audience, "exp": now + 120, "iat": now, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": kid, "typ": "JWT"})


BENCHMARKS = [bench_insight_scores, bench_cds_patient_view, bench_federated_round]
