"""Bulk Data export by a SMART Backend Services client: resources per second, kick-off to last file.

`careledger serve` runs as its own process (one uvicorn worker, managed anvil chain,
SQLite) holding a generated population of 1,000 patients (`careledger.testdata`), all
under one patient wallet that granted the clinic consent for every general category
and labs. The clinic's backend system gets a token with a signed ES384 assertion
(authlib), kicks off `GET /$export`, polls the status URL and downloads every NDJSON file.
Every exported record passes the guarded repository (consent checked, audited). The
baseline in the same run is the import that stored the population (resources/s).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import httpx
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, KeySet

from benchmarks import Result, registered_wallet
from careledger.api import NodeProcess, free_port
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.consent import Purpose
from careledger.records import Category, Importer
from careledger.testdata import scratch_node, synthetic_patients

PATIENTS = 1000


def bench_bulk() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        key = ECKey.generate_key("P-384")
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            alice = registered_wallet(node, "alice", Role.PATIENT)
            clinic = registered_wallet(node, "clinic", Role.ORG)
            source = Path(tmp) / "population.ndjson"
            with source.open("w") as out:
                for patient in synthetic_patients(PATIENTS, seed=3):
                    out.writelines(json.dumps(r) + "\n" for r in patient.resources)
            start = time.perf_counter()
            report = Importer(node._records, patient_wallet=lambda _p: alice.address).run(source)
            imported = report.imported / (time.perf_counter() - start)
            general = [c for c in Category if not c.sensitive]
            node.consent.grant(
                "alice", node.consent.terms(alice.address, clinic.address, general, [Purpose.TREAT], days=1)
            )
            client_id = node.clients.register_system(
                "bench", clinic.address, KeySet([key]).as_dict(private=False), ["system/*.rs"]
            ).client_id
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server:
            token_url = f"{server.url}/auth/token"
            session = OAuth2Session(client_id, key, token_endpoint_auth_method="private_key_jwt")
            session.register_client_auth_method(
                PrivateKeyJWT(token_url, claims={"exp": int(time.time()) + 240}, alg="ES384")
            )
            token = session.fetch_token(token_url, grant_type="client_credentials", scope="system/*.rs")
            headers = {"Authorization": f"Bearer {token['access_token']}", "Prefer": "respond-async"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
                start = time.perf_counter()
                status_url = client.get("/$export").headers["content-location"]
                while (status := client.get(status_url)).status_code == 202:
                    time.sleep(0.2)
                exported = sum(len(client.get(o["url"]).content.splitlines()) for o in status.json()["output"])
                elapsed = time.perf_counter() - start
    conditions = f"{PATIENTS} generated patients, 1 uvicorn worker, SQLite, consent checked and audited per record"
    return [
        Result(
            "bulk export",
            "resources/s",
            exported / elapsed,
            f"{exported} resources, kick-off to last file, {conditions}",
        ),
        Result("import of the same population", "resources/s", imported, "baseline, same run, in process"),
    ]


BENCHMARKS = [bench_bulk]
