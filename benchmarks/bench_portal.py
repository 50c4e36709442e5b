"""The portal's pages under `careledger serve`: time to first byte of a patient's timeline with 500 records,
and of her accounting of disclosures with 1,000 entries, beside two baselines measured in the same run:
`/metadata` (a JSON answer with no records) and the sign-in page (a template with no records)."""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from eth_account.messages import encode_defunct

from benchmarks import Result, registered_wallet
from benchmarks.bench_api import _observation
from careledger.api import NodeProcess, free_port
from careledger.audit import Access, Action, Outcome
from careledger.chain import Role
from careledger.config import Home, Settings
from careledger.records import Draft
from careledger.testdata import scratch_node, synthetic_patients

RECORDS = 500
ENTRIES = 1000
REQUESTS = 60
WARM_UP = 5


def bench_portal() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with scratch_node(home, Settings(light_kdf=True, anchor_in_background=False)) as node:
            alice = registered_wallet(node, "alice", Role.PATIENT)
            patient = synthetic_patients(1, seed=5)[0].patient
            drafts = [Draft.of(patient, alice.address)]
            drafts += [Draft.of(_observation(patient["id"], n), alice.address) for n in range(RECORDS - 1)]
            node._records.store(drafts)
            reads = [
                Access(
                    Action.READ, "read", Outcome.SUCCESS, node.address, alice.address, (f"Observation/{n}",), "TREAT"
                )
                for n in range(ENTRIES)
            ]
            with node.audit.db.session() as session:
                node.audit.append(session, reads)
            account = node.unlock("alice").account
        with NodeProcess(Home(home), free_port(), passphrase="pw").start() as server, httpx.Client() as client:
            _sign_in(client, server.url, account)
            timings = {
                path: _first_bytes(client, f"{server.url}{path}")
                for path in ("/metadata", "/portal/signin", "/portal/records", "/portal/accounting")
            }
    conditions = f"loopback, 1 uvicorn worker, SQLite, one browser session, {REQUESTS} requests after {WARM_UP}"
    names = {
        "/metadata": "baseline: /metadata",
        "/portal/signin": "baseline: sign-in page",
        "/portal/records": f"timeline, {RECORDS} records",
        "/portal/accounting": f"accounting, {ENTRIES} entries (a page of 100)",
    }
    results = []
    for path, latencies in timings.items():
        results.append(Result(f"portal TTFB p50: {names[path]}", "ms", statistics.median(latencies), conditions))
        results.append(
            Result(f"portal TTFB p95: {names[path]}", "ms", statistics.quantiles(latencies, n=20)[18], "same")
        )
    return results


def _sign_in(client: httpx.Client, url: str, account: object) -> None:
    page = client.get(f"{url}/portal/signin").text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None
    nonce = client.get(f"{url}/auth/nonce").json()
    message = "\n".join(
        [
            f"{nonce['domain']} wants you to sign in with your Ethereum account:",
            account.address,  # type: ignore[attr-defined]
            "",
            "Sign in to the CareLedger portal",
            "",
            f"URI: {url}",
            "Version: 1",
            f"Chain ID: {nonce['chain_id']}",
            f"Nonce: {nonce['nonce']}",
            f"Issued At: {datetime.now(UTC).isoformat(timespec='seconds').replace('+00:00', 'Z')}",
        ]
    )
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()  # type: ignore[attr-defined]
    form = {"csrf": found.group(1), "message": message, "signature": "0x" + signature}
    signed_in = client.post(f"{url}/portal/signin", data=form, headers={"Origin": url})  # as a browser sends it
    assert signed_in.status_code == 303, signed_in.text


def _first_bytes(client: httpx.Client, url: str) -> list[float]:
    """Milliseconds from sending each request to its status line and headers (the first byte), page read after."""
    latencies = []
    for n in range(WARM_UP + REQUESTS):
        started = time.perf_counter()
        with client.stream("GET", url) as response:
            first = time.perf_counter() - started
            assert response.status_code == 200, url
            response.read()
        if n >= WARM_UP:
            latencies.append(first * 1000)
    return latencies


BENCHMARKS = [bench_portal]
