"""Consent: cached and on-chain checks, gas per grant, and how soon a revoke is honoured.

A node in a temporary home on a managed anvil chain, with 200 patient-clinic pairs
granted. The cached check is `ConsentService.check` (a dictionary lookup); the on-chain
check is `ConsentRegistry.is_allowed` over JSON-RPC. Revoke to denial: from sending the
revoke until the first check that refuses, with the index synced every 50 ms as a serving
node's loop does.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import Result
from careledger.chain import Role
from careledger.config import Settings
from careledger.consent import Purpose
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import scratch_node

PAIRS = 200
CHECKS = 20_000
CHAIN_READS = 300
SYNC_EVERY = 0.05


def bench_consent() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", Settings(light_kdf=True)) as node:
        clinic = node.wallets.create("clinic", Role.ORG, "pw")
        patient = node.wallets.create("patient", Role.PATIENT, "pw")
        direct_gas, signed_gas = _gas_per_grant(node, patient.name, clinic.address)
        pairs = _grant_many(node, clinic.address)
        cached = _check_latencies(node, pairs, clinic.address)
        on_chain = _chain_latencies(node, pairs, clinic.address)
        revoke_to_denial = _revoke_to_denial(node, patient.name, clinic.address)
    return [
        Result("consent check, cached p50", "µs", statistics.median(cached), f"{CHECKS:,} checks, {PAIRS} pairs"),
        Result("consent check, cached p99", "µs", _p99(cached), "same"),
        Result("consent check, on chain p50", "ms", statistics.median(on_chain), f"{CHAIN_READS} is_allowed eth_calls"),
        Result("consent check, on chain p99", "ms", _p99(on_chain), "same, anvil over loopback"),
        Result("gas per direct grant", "gas", direct_gas, "patient sends grant(), a new pair"),
        Result("gas per signed grant", "gas", signed_gas, "grant_by_signature(), the patient's first nonce"),
        Result(
            "revoke to first denial",
            "ms",
            revoke_to_denial,
            f"anvil automine, index synced every {SYNC_EVERY * 1000:.0f} ms",
        ),
    ]


def _gas_per_grant(node: Node, patient: str, grantee: str) -> tuple[int, int]:
    wallet = node.wallets.get(patient)
    terms = node.consent.terms(wallet.address, grantee, [Category.LABS], [Purpose.TREAT], days=30)
    registry = node.contracts.consent_registry(as_wallet=patient)
    direct = registry.grant(terms)
    direct_gas = _gas_of_grant(node, direct.grant_id)
    other = node.wallets.create("other-patient", Role.PATIENT, "pw")
    signed_terms = node.consent.terms(other.address, grantee, [Category.LABS], [Purpose.TREAT], days=30)
    signed = node.consent.sign(node.unlock(other.name).account, signed_terms)
    record = node.consent.submit("node", signed)
    return direct_gas, _gas_of_grant(node, record.grant_id)


def _gas_of_grant(node: Node, grant_id: int) -> int:
    registry = node.contracts.consent_registry()
    (log,) = registry.contract.events.ConsentGranted().get_logs(from_block=0, argument_filters={"grant_id": grant_id})
    return int(node.chain.w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"])


def _grant_many(node: Node, grantee: str) -> list[str]:
    """Grants from `PAIRS` patients, pipelined; the patients."""
    patients = [node.wallets.create(f"p{i}", Role.PATIENT, "pw") for i in range(PAIRS)]
    for wallet in patients:
        registry = node.contracts.consent_registry(as_wallet=wallet.name)
        registry.grant(node.consent.terms(wallet.address, grantee, [Category.LABS], [Purpose.TREAT], days=30))
    node.consent.sync()
    return [wallet.address for wallet in patients]


def _check_latencies(node: Node, patients: list[str], grantee: str) -> list[float]:
    check = node.consent.check
    latencies = []
    for i in range(CHECKS):
        patient = patients[i % len(patients)]
        start = time.perf_counter()
        check(patient, grantee, Category.LABS, Purpose.TREAT)
        latencies.append((time.perf_counter() - start) * 1e6)
    return latencies


def _chain_latencies(node: Node, patients: list[str], grantee: str) -> list[float]:
    latencies = []
    for i in range(CHAIN_READS):
        start = time.perf_counter()
        node.consent.check_on_chain(patients[i % len(patients)], grantee, Category.LABS, Purpose.TREAT)
        latencies.append((time.perf_counter() - start) * 1e3)
    return latencies


def _revoke_to_denial(node: Node, patient: str, grantee: str) -> float:
    wallet = node.wallets.get(patient)
    (grant,) = node.consent.grants(patient=wallet.address, grantee=grantee)
    registry = node.contracts.consent_registry(as_wallet=patient)
    start = time.perf_counter()
    registry.revoke(wallet.address, grantee, grant.grant_id)
    while node.consent.check(wallet.address, grantee, Category.LABS, Purpose.TREAT) is not None:
        time.sleep(SYNC_EVERY)
        node.consent.sync()
    return (time.perf_counter() - start) * 1e3


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


BENCHMARKS = [bench_consent]
