"""A clinic to book at: a node with two patients, a practitioner of its care team with a Schedule, and a stranger."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from careledger.access import AFFILIATION, Accessor, Repository
from careledger.chain import Role
from careledger.claims import ServiceClass
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Resource
from careledger.telehealth import Offer, Scheduling, VisitMode
from careledger.testdata import scratch_node, synthetic_patients
from tests.conftest import PG_URL, _postgres_schema


@dataclass
class Clinic:
    """The node, its scheduling (on a clock the tests move), and who books there."""

    node: Node
    scheduling: Scheduling
    alice: Wallet
    bob: Wallet
    drbob: Wallet
    mallory: Wallet
    alice_id: str
    bob_id: str
    practitioner_id: str
    schedule: Resource
    now: list[datetime] = field(default_factory=lambda: [datetime.now(UTC)])
    _opened: int = 0  # hours past the first slots of the next `slots` call

    def door(self, who: Wallet | str, purpose: Purpose = Purpose.TREAT) -> Repository:
        address = who if isinstance(who, str) else who.address
        return self.node.access.for_caller(Accessor(address, purpose))

    def slots(self, count: int = 1, *, days: int = 1, minutes: int = 30) -> list[str]:
        """`count` new free slots on the Schedule, `days` from now (each call opens later ones than the last)."""
        self._opened += 1
        start = (self.now[0] + timedelta(days=days, hours=self._opened)).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=minutes * count)
        opened = self.scheduling.open_slots(self.door(self.drbob), self.schedule["id"], start, end, minutes)
        return [slot["id"] for slot in opened]


def _patient(node: Node, wallet: Wallet, seed: int) -> str:
    patient = synthetic_patients(1, seed=seed)[0].patient
    return node._records.write(patient, patient_address=wallet.address).record_id


@contextmanager
def clinic_at(home: Path, db: str | None = None) -> Iterator[Clinic]:
    """A `Clinic` in a new home at `home`, on the database `db` (None: the home's SQLite)."""
    with scratch_node(home, Settings(chain="memory", light_kdf=True, db=db)) as node:
        wallets = {
            name: node.wallets.create(name, role, "pw")
            for name, role in (
                ("alice", Role.PATIENT),
                ("bob", Role.PATIENT),
                ("drbob", Role.PRACTITIONER),
                ("mallory", Role.PRACTITIONER),
            )
        }
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        for wallet in wallets.values():
            registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
        registry.attest(wallets["drbob"].address, AFFILIATION, int(time.time()) + 30 * 86_400)
        now = [datetime.now(UTC)]
        scheduling = Scheduling(node.db, node.access, custodian=node.address, clock=lambda: now[0])
        staff = node.access.for_caller(Accessor(wallets["drbob"].address))
        practitioner = staff.write({"resourceType": "Practitioner", "name": [{"family": "Bob", "given": ["Dr"]}]})
        offer = Offer(practitioner.record_id, ServiceClass.OFFICE_VISIT, VisitMode.VIRTUAL, fee=50)
        schedule = scheduling.publish(staff, offer)
        yield Clinic(
            node,
            scheduling,
            alice=wallets["alice"],
            bob=wallets["bob"],
            drbob=wallets["drbob"],
            mallory=wallets["mallory"],
            alice_id=_patient(node, wallets["alice"], 31),
            bob_id=_patient(node, wallets["bob"], 32),
            practitioner_id=practitioner.record_id,
            schedule=schedule,
            now=now,
        )


@contextmanager
def clinic_on(backend: str, home: Path) -> Iterator[Clinic]:
    """A clinic on SQLite, or on PostgreSQL in a schema of its own (dropped afterwards)."""
    if backend == "sqlite":
        with clinic_at(home) as clinic:
            yield clinic
        return
    for schema in _postgres_schema():
        with clinic_at(home, f"{PG_URL}?options=-csearch_path%3D{schema}") as clinic:
            yield clinic
