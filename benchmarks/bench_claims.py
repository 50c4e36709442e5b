"""Claims: gas per adjudicated claim, pipelined claim throughput, and a whole claim's latency.

A node in a temporary home on a managed anvil chain, with the worked example's plan
(docs/claims.md) and 40 enrolled members. Gas is the receipt's `gasUsed` of
`submit_claim`, intrinsic gas and calldata included. "Auto-adjudicated" is the common
case: a network provider's lab claim for a member, adjudicated and paid to the provider
in the same transaction. The whole-claim latency is `ClaimsService.submit`: the FHIR Claim
written and encrypted, submitted, and the ClaimResponse and EOB written.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks import Result
from careledger.access import Accessor
from careledger.chain import ClaimStatus, Role
from careledger.claims import CPT, ClaimLine, ServiceClass
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.node import Node
from careledger.testdata import CARE, insure, scratch_node, synthetic_patients

MEMBERS = 40
PIPELINED = 200
SERVICE_CLAIMS = 30
_DAY = 86_400


def bench_claims() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, scratch_node(Path(tmp) / "home", Settings(light_kdf=True)) as node:
        insurer = node.wallets.create("insurer", Role.INSURER, "pw")
        members = [node.wallets.create(f"member-{i}", Role.PATIENT, "pw") for i in range(MEMBERS)]
        insure(node, insurer, members)
        addresses = [m.address for m in members]
        auto, first, denied = _gas(node, addresses)
        preauth = _gas_with_preauth(node, addresses[0])
        rate = _pipelined(node, addresses)
        latencies = _service_latencies(node, members[0].address)
    return [
        Result("gas per auto-adjudicated claim", "gas", statistics.mean(auto), "lab, provider paid; target 150k"),
        Result("gas per member's first claim", "gas", statistics.mean(first), "surgery: deductible, coinsurance, paid"),
        Result("gas per claim with prior auth", "gas", preauth, "imaging, approved authorization used"),
        Result("gas per denied claim", "gas", statistics.mean(denied), "a class the plan does not cover (96)"),
        Result("claims submitted, pipelined", "claims/s", rate, f"{PIPELINED} lab claims, one provider, anvil"),
        Result("whole claim p50", "ms", statistics.median(latencies), f"{SERVICE_CLAIMS} claims: Claim, chain, EOB"),
    ]


def _yesterday() -> int:
    return int(time.time()) - _DAY


def _gas(node: Node, members: list[str]) -> tuple[list[int], list[int], list[int]]:
    """Each member's first claim (surgery 4,000: the deductible, coinsurance, the plan pays 2,800),
    then lab claims past the deductible (the plan pays 64 of 80), then denied ones."""
    claims = node.contracts.claims(as_wallet=NODE_WALLET)

    def gas(service_class: ServiceClass, amount: int, of: list[str], expected: ClaimStatus) -> list[int]:
        requests = [
            claims.submit_claim_request(m, service_class, amount * CARE, _yesterday(), os.urandom(32)) for m in of
        ]
        receipts = node.signer.send_many(requests)
        assert all(claims.adjudication_in(r).status is expected for r in receipts)
        return [receipt.gas_used for receipt in receipts]

    first = gas(ServiceClass.SURGERY, 4_000, members, ClaimStatus.PAID)
    auto = gas(ServiceClass.LAB, 80, members, ClaimStatus.PAID)
    denied = gas(ServiceClass.DENTAL, 1, members[:10], ClaimStatus.DENIED)
    return auto, first, denied


def _gas_with_preauth(node: Node, member: str) -> int:
    claims = node.contracts.claims(as_wallet=NODE_WALLET)
    preauth_id = claims.request_preauth(member, ServiceClass.IMAGING, bytes(32))
    node.contracts.claims(as_wallet="insurer").decide_preauth(preauth_id, True, 0, int(time.time()) + 30 * _DAY)
    adjudication = claims.submit_claim(
        member, ServiceClass.IMAGING, 1_000 * CARE, _yesterday(), os.urandom(32), preauth_id
    )
    assert adjudication.status is ClaimStatus.PAID
    return adjudication.gas_used or 0


def _pipelined(node: Node, members: list[str]) -> float:
    claims = node.contracts.claims(as_wallet=NODE_WALLET)
    requests = [
        claims.submit_claim_request(
            members[i % len(members)], ServiceClass.LAB, 80 * CARE, _yesterday(), os.urandom(32)
        )
        for i in range(PIPELINED)
    ]
    start = time.perf_counter()
    receipts = node.signer.send_many(requests)
    elapsed = time.perf_counter() - start
    assert all(receipt.status == 1 for receipt in receipts)
    return PIPELINED / elapsed


def _service_latencies(node: Node, member: str) -> list[float]:
    patient = synthetic_patients(1, seed=3)[0].patient
    node._records.write(patient, patient_address=member)
    started = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    latencies = []
    billing = node.access.for_caller(Accessor(node.address, Purpose.HOPERAT))  # the hospital bills as itself
    for i in range(SERVICE_CLAIMS):
        encounter = {
            "resourceType": "Encounter",
            "id": f"bench-visit-{i}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "period": {"start": started},
        }
        node._records.write(encounter)
        begin = time.perf_counter()
        node.claims.submit(billing, f"bench-visit-{i}", [ClaimLine(CPT, "80061", 100 * CARE)])
        latencies.append((time.perf_counter() - begin) * 1e3)
    return latencies


BENCHMARKS = [bench_claims]
