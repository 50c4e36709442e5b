"""Compliance: the report of a period of 100,000 audit entries, beside reading and decrypting the same entries with
the audit log's own reader (`AuditLog.entries`), the least any report of them costs.

A node in a temporary home on a managed anvil chain; 20 registered, licensed practitioners read, search and are
refused the records of 500 patients (a few break-glass uses and erasures among them), written to the log in
batches as a busy node writes them. The report reads each entry once, checks it against the one before it, and
counts every section; its HTML page (one row per disclosure) is timed apart.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_utils import to_checksum_address

from benchmarks import Result, registered_wallet
from careledger.audit import Access, Action, Outcome
from careledger.chain import Role
from careledger.compliance import Period, html_chunks
from careledger.config import NODE_WALLET, Settings
from careledger.identity import MEDICAL_LICENCE
from careledger.node import Node
from careledger.testdata import scratch_node

ENTRIES = 100_000
BATCH = 1_000
PRACTITIONERS = 20
PATIENTS = 500


def bench_compliance() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", Settings(light_kdf=True)) as node:
        start = datetime.now(UTC) - timedelta(minutes=1)
        _fill(node)
        period = Period(start, datetime.now(UTC) + timedelta(minutes=1))
        started = time.perf_counter()
        read = len(node.audit.entries())
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        report = node.compliance.report(period)
        reported = time.perf_counter() - started
        started = time.perf_counter()
        page = sum(len(chunk) for chunk in html_chunks(report))
        rendered = time.perf_counter() - started
    assert report.summary.entries == read == ENTRIES, (report.summary.entries, read)
    disclosures = sum(len(a.disclosures) for a in report.accounting)
    conditions = f"{ENTRIES:,} entries, {PATIENTS} patients, {PRACTITIONERS} practitioners, SQLite"
    return [
        Result("compliance report of 100,000 audit entries", "s", reported, conditions),
        Result("baseline: read and decrypt the same entries", "s", baseline, "AuditLog.entries, same run"),
        Result("compliance report as HTML", "s", rendered, f"{disclosures:,} disclosures, {page / 1e6:.0f} MB page"),
    ]


def _fill(node: Node) -> None:
    """`ENTRIES` audit entries of a busy node's kinds, written in batches."""
    rng = random.Random(40)
    registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
    practitioners = []
    for n in range(PRACTITIONERS):
        wallet = registered_wallet(node, f"dr{n}", Role.PRACTITIONER)
        registry.attest(wallet.address, MEDICAL_LICENCE, int(time.time()) + 365 * 86_400)
        practitioners.append(wallet.address)
    patients = [to_checksum_address(f"0x{rng.getrandbits(160):040x}") for _ in range(PATIENTS)]
    for _ in range(ENTRIES // BATCH):
        node.audit.record_all([_access(rng, rng.choice(practitioners), rng.choice(patients)) for _ in range(BATCH)])


def _access(rng: random.Random, agent: str, patient: str) -> Access:
    """One entry: mostly reads and searches, some refusals, now and then break-glass or an erasure."""
    roll = rng.random()
    versions = tuple(f"Observation/obs-{rng.randrange(10**6)}/_history/1" for _ in range(rng.randint(1, 3)))
    if roll < 0.10:
        why = "no consent from the patient to labs records for TREAT"
        return Access(Action.READ, "read", Outcome.DENIED, agent, patient, versions, "TREAT", detail=why)
    if roll < 0.14:
        return Access(Action.EXECUTE, "search-type", Outcome.SUCCESS, agent, patient, versions * 2, "TREAT")
    if roll < 0.141:
        return Access(Action.EXECUTE, "break-glass", Outcome.SUCCESS, agent, patient, (), "ETREAT", True, "emergency")
    if roll < 0.142:
        return Access(Action.DELETE, "erase", Outcome.DENIED, patient, patient, detail="billing retention")
    return Access(Action.READ, "read", Outcome.SUCCESS, agent, patient, versions, "TREAT")


BENCHMARKS = [bench_compliance]
