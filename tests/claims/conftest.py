from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careledger.access import Accessor, Repository
from careledger.chain import Claims, Role
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.identity import Wallet
from careledger.node import Node
from careledger.testdata import CARE, insure, scratch_node, synthetic_patients

__all__ = ["CARE", "World"]


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

    @property
    def billing(self) -> Repository:
        """The hospital billing as itself: its own guarded repository."""
        return self.node.access.for_caller(Accessor(self.node.address, Purpose.HOPERAT))

    def claims(self, wallet: str = NODE_WALLET) -> Claims:
        return self.node.contracts.claims(as_wallet=wallet)

    def encounter(self, encounter_id: str, *, days_ago: float = 1) -> str:
        """Write a finished ambulatory Encounter of alice's; its id."""
        start = datetime.now(UTC) - timedelta(days=days_ago)
        self.node._records.write(
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


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with scratch_node(tmp_path / "home", Settings(chain="memory", light_kdf=True)) as node:
        insurer = node.wallets.create("insurer", Role.INSURER, "pw")
        alice = node.wallets.create("alice", Role.PATIENT, "pw")
        plan_id = insure(node, insurer, [alice])
        patient = synthetic_patients(1, seed=5)[0].patient
        node._records.write(patient, patient_address=alice.address)
        yield World(node, insurer, alice, plan_id, f"Patient/{patient['id']}")
