"""A study end to end on one anvil chain and two served nodes: registered, approved, joined and left, released,
queried and paid, with the patients who never joined and the one who left releasing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from careledger.api import NodeProcess, free_port
from careledger.chain import Role, open_chain
from careledger.client import FhirClient
from careledger.config import NODE_WALLET, Settings
from careledger.errors import TransactionReverted, Unauthenticated
from careledger.identity import Wallet
from careledger.node import Node
from careledger.records import Category
from careledger.research import RELEASE, AggregateQuery, NodeRelease, StudyRequest
from careledger.testdata import PASSPHRASE, founding_node, joining_node, synthetic_patients

ROOT = Path(__file__).resolve().parents[2]
CARE = 10**18
REWARD = 10 * CARE
PROTOCOL = b"Resting heart rate and sleep: an observational study. Protocol v1."
OUTSIDER_MARK, LEAVER_MARK = 431.0071, 432.0071
PER_NODE = 7


@dataclass
class Network:
    hospital: Node
    clinic: Node  # the sponsor's node
    sponsor: Wallet
    carol: Wallet  # a patient with her own wallet, at the clinic
    hospital_patients: list[str]  # custodial; the last is the outsider, the one before the leaver
    clinic_patients: list[str]
    study_id: int


def _same_class(resource: dict[str, object]) -> dict[str, object]:
    """Everyone in one quasi-identifier class (born 1985, female, no ZIP), so k-anonymity keeps them all."""
    return {**resource, "birthDate": "1985-06-01", "gender": "female"}


def _chart(node: Node, count: int, seed: int, *, wallet: Wallet | None = None, marks: dict[int, float]) -> list[str]:
    addresses = []
    for i, patient in enumerate(synthetic_patients(count, seed=seed)):
        own = wallet is not None and i == 0
        stored = node.records.write(_same_class(patient.patient), patient_address=wallet.address if own else None)
        addresses.append(stored.patient_address)
        for record in patient.records:
            if i in marks and record["resourceType"] == "Observation" and "valueQuantity" in record:
                record = {**record, "valueQuantity": {**record["valueQuantity"], "value": marks[i]}}
            node.records.write(record)
    return addresses


def _registered(node: Node, registrar: Node, name: str, role: Role) -> Wallet:
    wallet = node.wallets.create(name, role, PASSPHRASE)
    registrar.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(
        wallet.address, wallet.role, wallet.encryption_key
    )
    return wallet


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    tmp = tmp_path_factory.mktemp("study")
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    with open_chain("anvil", chain_dir=tmp / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        hospital = founding_node(tmp / "hospital", settings, endpoint=urls[0])
        clinic = joining_node(tmp / "clinic", settings, hospital, endpoint=urls[1])
        try:
            hospital.contracts.identity_registry(as_wallet=NODE_WALLET).grant_role("REGISTRAR_ROLE", clinic.address)
            sponsor = _registered(clinic, hospital, "lab", Role.RESEARCHER)
            carol = _registered(clinic, hospital, "carol", Role.PATIENT)
            board = _registered(hospital, hospital, "irb", Role.ORG)
            hospital.contracts.identity_registry(as_wallet=NODE_WALLET).attest(
                board.address, "research-ethics-approval", 2**40
            )
            hospital.contracts.token(as_wallet=NODE_WALLET).mint(sponsor.address, 1_000 * CARE)
            marks = {PER_NODE - 1: OUTSIDER_MARK, PER_NODE - 2: LEAVER_MARK}
            hospital_patients = _chart(hospital, PER_NODE, seed=31, marks=marks)
            clinic_patients = _chart(clinic, PER_NODE - 1, seed=32, wallet=carol, marks={})
            study = clinic.studies.create(
                "lab",
                PROTOCOL,
                categories=[Category.LABS, Category.VITALS],
                data_from=0,
                data_to=2**33,
                days=30,
                epsilon=1.0,
                reward=REWARD,
                budget=120 * CARE,
            )
            with (
                NodeProcess(hospital.home, ports[0], passphrase=PASSPHRASE, cwd=ROOT).start(),
                NodeProcess(clinic.home, ports[1], passphrase=PASSPHRASE, cwd=ROOT).start(),
            ):
                yield Network(hospital, clinic, sponsor, carol, hospital_patients, clinic_patients, study.study_id)
        finally:
            clinic.close()
            hospital.close()


def _patients_in(release: NodeRelease) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in release.ndjson.splitlines()]
    return [r for r in lines if r["resourceType"] == "Patient"]


def test_nothing_is_joined_or_released_before_an_ethics_board_approves(network: Network) -> None:
    with pytest.raises(TransactionReverted, match="not approved"):
        network.hospital.studies.join(NODE_WALLET, network.study_id, network.hospital_patients[0])
    delivered = network.clinic.studies.gather_release("lab", network.study_id)
    assert all(d.records == 0 and "not approved" in (d.problem or "") for d in delivered)
    with pytest.raises(TransactionReverted, match="sponsor cannot approve"):
        network.clinic.studies.approve("lab", network.study_id)
    study = network.hospital.studies.approve("irb", network.study_id)
    assert study.approved_by == network.hospital.wallets.get("irb").address


def test_participants_release_de_identified_data_and_are_paid_once_and_others_release_nothing(
    network: Network,
) -> None:
    hospital, clinic, study_id = network.hospital, network.clinic, network.study_id
    *joining, leaver, outsider = network.hospital_patients
    for patient in [*joining, leaver]:
        hospital.studies.join(NODE_WALLET, study_id, patient)
    for patient in network.clinic_patients[1:]:
        clinic.studies.join(NODE_WALLET, study_id, patient)
    clinic.studies.join("carol", study_id, network.carol.address)
    hospital.studies.leave(NODE_WALLET, study_id, leaver)
    token = clinic.contracts.token()
    before = token.balance_of(network.carol.address)

    delivered = {d.custodian: d for d in clinic.studies.gather_release("lab", study_id)}

    at_hospital, at_clinic = delivered[hospital.address], delivered[clinic.address]
    assert (at_hospital.problem, at_clinic.problem) == (None, None)
    assert len(_patients_in(at_hospital)) == len(joining)
    assert len(_patients_in(at_clinic)) == len(network.clinic_patients)
    text = at_hospital.ndjson.decode()
    assert str(OUTSIDER_MARK) not in text
    assert str(LEAVER_MARK) not in text
    research = clinic.contracts.research()
    assert token.balance_of(network.carol.address) == before + REWARD
    assert all(research.held(p) == REWARD for p in [*joining, *network.clinic_patients[1:]])
    assert research.held(leaver) == research.held(outsider) == 0
    assert research.study(study_id).escrow == 120 * CARE - (len(joining) + len(network.clinic_patients)) * REWARD
    released_to = {
        e.access.patient for e in hospital.audit.entries(limit=500) if e.access.interaction == "study-release"
    }
    assert set(joining) <= released_to
    assert not {leaver, outsider} & released_to

    again = {d.custodian: d for d in clinic.studies.gather_release("lab", study_id)}
    assert again[hospital.address].root == at_hospital.root  # the same data, the same root: nobody paid twice
    assert token.balance_of(network.carol.address) == before + REWARD

    (mine,) = clinic.studies.mine(network.carol.address)
    assert mine.rewarded
    assert (mine.study.study_id, len(mine.releases)) == (study_id, 2)


def test_a_forged_or_replayed_study_request_is_refused(network: Network) -> None:
    clinic, hospital = network.clinic, network.hospital
    registry = clinic.contracts.identity_registry().address
    ask = StudyRequest.new(network.study_id, hospital.address, RELEASE)
    forged = ask.signed(clinic.unlock("carol").account, clinic.chain_id, registry)
    signed = ask.signed(clinic.unlock("lab").account, clinic.chain_id, registry)
    endpoint = hospital.contracts.identity_registry().require_actor(hospital.address).endpoint
    with FhirClient(endpoint) as client:
        with pytest.raises(Unauthenticated, match="not by study"):
            client.study(forged.to_json())
        client.study(signed.to_json())
        with pytest.raises(Unauthenticated, match="replay"):
            client.study(signed.to_json())


def test_private_counts_combine_across_nodes_until_the_budget_is_spent(network: Network) -> None:
    clinic = network.clinic
    count = AggregateQuery("count", 0.45)
    first = clinic.studies.gather_query("lab", network.study_id, count)
    assert all(n["problem"] is None for n in first["nodes"])
    assert abs(first["result"]["count"] - 12) < 40  # 12 participants, noise of scale ~2 per node
    clinic.studies.gather_query("lab", network.study_id, count)
    refused = clinic.studies.gather_query("lab", network.study_id, count)
    assert all("budget" in (n["problem"] or "") for n in refused["nodes"])
    assert refused["result"]["count"] == 0
