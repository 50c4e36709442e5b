from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event

from careledger.access import Accessor, RecordAccess
from careledger.audit import Entry
from careledger.chain import ConsentRegistry, Role
from careledger.config import NODE_WALLET, Settings
from careledger.consent import ConsentService
from careledger.errors import AccessDenied
from careledger.identity import Wallet
from careledger.node import Node
from careledger.testdata import scratch_node, synthetic_patients


@dataclass
class World:
    """A node (memory chain) with a patient's records, a clinic, two practitioners and a guardian.

    `now` is the consent service's clock (seconds); `travel` moves it and the chain together.
    """

    node: Node
    consent: ConsentService
    access: RecordAccess
    alice: Wallet
    clinic: Wallet
    drbob: Wallet
    mallory: Wallet
    guardian: Wallet
    labs_id: str = ""
    mental_health_id: str = ""
    general_id: str = ""
    now: list[float] = field(default_factory=lambda: [time.time()])

    def registry(self, wallet: Wallet) -> ConsentRegistry:
        return self.node.contracts.consent_registry(as_wallet=wallet.name)

    def travel(self, seconds: float) -> None:
        self.now[0] += seconds
        tester = self.node.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        tester.time_travel(int(self.now[0]))

    def last_entry(self) -> Entry:
        return self.node.audit.entries()[-1]

    def assert_denied(self, who: Wallet, record_id: str, match: str, **accessor: object) -> Entry:
        """The read is refused, and the refusal is the newest audit entry."""
        before = len(self.node.audit.entries())
        with pytest.raises(AccessDenied, match=match):
            self.access.for_caller(Accessor(who.address, **accessor)).read(record_id)  # type: ignore[arg-type]
        entries = self.node.audit.entries()
        assert len(entries) == before + 1
        denial = entries[-1]
        assert not denial.access.allowed
        assert (denial.access.agent, denial.access.patient) == (who.address, self.alice.address)
        return denial


@dataclass(frozen=True)
class Statement:
    """One statement the database ran (parameters apart, or `COMMIT`), and the thread that ran it."""

    sql: str
    thread: int


@contextmanager
def statements(node: Node) -> Iterator[list[Statement]]:
    """The SQL statements and commits the node's database runs meanwhile, in order, from any thread."""
    node.audit.flush()  # nothing left over from before
    ran: list[Statement] = []

    def statement(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        ran.append(Statement(" ".join(sql.split()), threading.get_ident()))

    def commit(_conn: object) -> None:
        ran.append(Statement("COMMIT", threading.get_ident()))

    event.listen(node.db.engine, "before_cursor_execute", statement)
    event.listen(node.db.engine, "commit", commit)
    try:
        yield ran
    finally:
        event.remove(node.db.engine, "before_cursor_execute", statement)
        event.remove(node.db.engine, "commit", commit)


@contextmanager
def built_world(home: Path) -> Iterator[World]:
    """A `World` in a new home at `home` (the fixtures below, per test or per module)."""
    with scratch_node(home, Settings(chain="memory", light_kdf=True)) as node:
        wallets = {
            name: node.wallets.create(name, role, "pw")
            for name, role in (
                ("alice", Role.PATIENT),
                ("clinic", Role.ORG),
                ("drbob", Role.PRACTITIONER),
                ("mallory", Role.PRACTITIONER),
                ("guardian", Role.PATIENT),
            )
        }
        registry = node.contracts.identity_registry(as_wallet=NODE_WALLET)
        for wallet in wallets.values():
            registry.register_actor(wallet.address, wallet.role, wallet.encryption_key)
        registry.attest(wallets["drbob"].address, "medical-licence", int(time.time()) + 365 * 86_400)
        now = [time.time()]
        consent = ConsentService(node.db, node.contracts.consent_registry, clock=lambda: now[0])
        access = RecordAccess(
            node._records,
            lambda: consent,
            node.audit,
            node.db,
            custodian=node.address,
            identity=node.contracts.identity_registry,
            registry_as=node._consent_registry_as,
            payers=lambda: node.claims.payers,
            clock=lambda: datetime.fromtimestamp(now[0], UTC),
        )
        world = World(node, consent, access, now=now, **wallets)
        _chart(world)
        yield world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with built_world(tmp_path / "home") as world:
        yield world


def _chart(world: World) -> None:
    """Alice's chart: her Patient, a lab result, a general record and a mental-health diagnosis."""
    patient = synthetic_patients(1, seed=21)[0]
    records = world.node._records
    records.write(patient.patient, patient_address=world.alice.address)
    stored = [records.write(resource) for resource in patient.resources if resource is not patient.patient]
    world.labs_id = next(s.record_id for s in stored if s.category.value == "labs")
    world.general_id = next(s.record_id for s in stored if s.category.value == "general")
    condition = next(r for r in patient.resources if r["resourceType"] == "Condition")
    depression = copy.deepcopy(condition)
    depression["id"] = "depression-1"
    depression["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]}
    world.mental_health_id = records.write(depression).record_id
