"""Two nodes on one in-process chain, each serving HTTP from a thread: the hospital, Alice's custodian, and the
clinic, which fetched her psychotherapy note and labs under her consent."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from careledger.api import NodeServer, free_port
from careledger.chain import Role, open_chain
from careledger.config import NODE_WALLET, ErasureSettings, RetentionRule, Settings
from careledger.consent import Purpose
from careledger.erasure import ErasureRequest, SignedErasure
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients

PHRASE = "the lighthouse keeper's violet umbrella"  # only in Alice's psychotherapy note
RETENTION = RetentionRule(name="state vital-signs archive", years=10)


@dataclass
class Pair:
    """The hospital (Alice's custodian) and the clinic (which fetched copies), and Alice, her wallet at the
    hospital; `labs` and `vitals` are her records of those categories, `note` her psychotherapy note."""

    hospital: Node
    clinic: Node
    alice: Wallet
    bob: Wallet
    alice_id: str
    note: str
    labs: list[str]
    vitals: list[str]
    url: str = ""  # the hospital's API
    clinic_url: str = ""

    def signed(self, records: list[str] | None, *, by: str = "alice", patient: str | None = None) -> SignedErasure:
        """Alice's request (or one `by` another wallet of the hospital's) to erase `records` at the hospital."""
        request = ErasureRequest.new(patient or self.alice.address, self.hospital.address, records)
        return self.hospital.erasure.sign(request, self.hospital.unlock(by).account)


@pytest.fixture(scope="package")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("erasure")
    retention = ErasureSettings(retention={Category.VITALS.value: RETENTION})
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False, erasure=retention)
    ports = free_port(), free_port()
    with open_chain("memory") as chain:
        hospital = founding_node(root / "hospital", settings, f"http://127.0.0.1:{ports[0]}", chain=chain)
        clinic = joining_node(root / "clinic", settings, hospital, f"http://127.0.0.1:{ports[1]}", chain=chain)
        servers = [NodeServer(node, port=port) for node, port in zip((hospital, clinic), ports, strict=True)]
        try:
            pair = _chart(hospital, clinic)
            pair.url, pair.clinic_url = (f"http://127.0.0.1:{port}" for port in ports)
            for server in servers:
                server.start()
            _fetched(pair)
            yield pair
        finally:
            for server in servers:
                server.stop()
            clinic.close()
            hospital.close()


def _chart(hospital: Node, clinic: Node) -> Pair:
    """Alice's chart at the hospital: her synthetic records, and a psychotherapy note with the phrase."""
    registry = hospital.contracts.identity_registry(as_wallet=NODE_WALLET)
    people = {}
    for name in ("alice", "bob"):
        people[name] = hospital.wallets.create(name, Role.PATIENT, PASSPHRASE)
        registry.register_actor(people[name].address, Role.PATIENT, people[name].encryption_key)
    synthetic = synthetic_patients(1, seed=40)[0]
    hospital._records.write(synthetic.patient, patient_address=people["alice"].address)
    stored = [hospital._records.write(resource) for resource in synthetic.records]
    condition = next(r for r in synthetic.records if r["resourceType"] == "Condition")
    note = copy.deepcopy(condition)
    note["id"] = "psy-note-1"
    note["meta"] = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]}
    note["note"] = [{"text": f"Session 4: {PHRASE}."}]
    hospital._records.write(note)
    note["note"] = [{"text": f"Session 4, amended: {PHRASE}, twice."}]
    hospital._records.write(note)  # a second version: both must go
    hospital.anchorer.anchor_pending()
    return Pair(
        hospital,
        clinic,
        people["alice"],
        people["bob"],
        str(synthetic.patient["id"]),
        "psy-note-1",
        [s.record_id for s in stored if s.category is Category.LABS],
        [s.record_id for s in stored if s.category is Category.VITALS],
    )


def _fetched(pair: Pair) -> None:
    """Alice consents to the clinic's treating her (labs and mental health); the clinic fetches both."""
    wanted = [Category.LABS, Category.MENTAL_HEALTH]
    terms = pair.hospital.consent.terms(pair.alice.address, pair.clinic.address, wanted, [Purpose.TREAT], days=30)
    pair.hospital.consent.grant("alice", terms)
    wallet = pair.clinic.unlock(NODE_WALLET)
    fetched = pair.clinic.requester.fetch(
        wallet.account, wallet.encryption_key(), pair.hospital.address, pair.alice.address, wanted, Purpose.TREAT
    )
    assert pair.note in {s.record_id for s in fetched.stored}


def scan(root: Path, needles: list[bytes]) -> list[str]:
    """The byte scan of a home: every file under `root` (the database, its log, blobs, keys) holding a needle."""
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits.extend(f"{path.relative_to(root)}#{at}" for at, needle in enumerate(needles) if needle in data)
    return hits
