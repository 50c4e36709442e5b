from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careledger.chain import Claims, PlanTerms, Role
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET, Home, Settings
from careledger.identity import Wallet
from careledger.node import Node, init_home
from careledger.testdata import synthetic_patients

CARE = 10**18
DAY = 86_400


@dataclass
class World:
    """A hospital node (memory chain) whose patient alice is enrolled in an insurer's plan.

    The plan is the worked example's (docs/claims.md): deductible 500 CARE, 20% coinsurance,
    out-of-pocket maximum 1,500; imaging needs prior authorization; claims over 5,000 are
    reviewed. The node's own wallet is the hospital, a network provider.
    """

    node: Node
    insurer: Wallet
    alice: Wallet
    plan_id: int
    patient_reference: str

    def claims(self, wallet: str = NODE_WALLET) -> Claims:
        return self.node.claims_contract(as_wallet=wallet)

    def encounter(self, encounter_id: str, *, days_ago: float = 1) -> str:
        """Write a finished ambulatory Encounter of alice's; its id."""
        start = datetime.now(UTC) - timedelta(days=days_ago)
        self.node.records.write(
            {
                "resourceType": "Encounter",
                "id": encounter_id,
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": self.patient_reference},
                "period": {"start": start.isoformat(timespec="seconds")},
            }
        )
        return encounter_id


def plan_terms(token: str) -> PlanTerms:
    allowed = [0] * 16
    for service_class, amount in (
        (ServiceClass.OFFICE_VISIT, 150),
        (ServiceClass.LAB, 80),
        (ServiceClass.IMAGING, 1_200),
        (ServiceClass.SURGERY, 8_000),
    ):
        allowed[service_class] = amount * CARE
    start = int(time.time()) - 30 * DAY
    return PlanTerms(
        token=token,
        allowed=tuple(allowed),
        deductible=500 * CARE,
        coinsurance_bps=2_000,
        oop_max=1_500 * CARE,
        coverage_start=start,
        coverage_end=start + 365 * DAY,
        preauth_classes=ServiceClass.IMAGING.bit,
        review_threshold=5_000 * CARE,
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = Home(tmp_path / "home")
    settings = Settings(chain="memory", light_kdf=True)
    init_home(home, settings, "pw")
    with Node(home, settings, lambda _wallet: "pw") as node:
        node.deploy()
        insurer = node.wallets.create("insurer", Role.INSURER, "pw")
        alice = node.wallets.create("alice", Role.PATIENT, "pw")
        registry = node.identity_registry(as_wallet=NODE_WALLET)
        node_wallet = node.wallets.get(NODE_WALLET)
        for wallet in (node_wallet, insurer, alice):
            registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
        node.token(as_wallet=NODE_WALLET).mint(insurer.address, 1_000_000 * CARE)
        token = node.token(as_wallet="insurer")
        claims = node.claims_contract(as_wallet="insurer")
        token.approve(claims.address, 2**256 - 1)
        terms = plan_terms(token.address)
        plan_id = claims.create_plan(terms)
        claims.fund(plan_id, 100_000 * CARE)
        claims.set_network(plan_id, node.address, True)
        claims.enroll(alice.address, plan_id, terms.coverage_start, terms.coverage_end)
        patient = synthetic_patients(1, seed=5)[0].patient
        node.records.write(patient, patient_address=alice.address)
        yield World(node, insurer, alice, plan_id, f"Patient/{patient['id']}")
