"""A study end to end on one anvil chain and two served nodes: registered, approved, joined and left, released,
queried and paid, with the patients who never joined and the one who left releasing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from careledger.api import NodeProcess, free_port
from careledger.chain import Role, open_chain
from careledger.client import FhirClient
from careledger.config import NODE_WALLET, Settings
from careledger.crypto import PrivateKey, Suite
from careledger.errors import NotFound, TransactionReverted, Unauthenticated
from careledger.node import Node
from careledger.research import RELEASE, AggregateQuery, NodeRelease, StudyRequest
from careledger.testdata import (
    PASSPHRASE,
    STUDY_REWARD,
    StudySetUp,
    founding_node,
    joining_node,
    set_up_study,
    synthetic_patients,
)
from tests.outside_wallet import signed_in_message

ROOT = Path(__file__).resolve().parents[2]
REWARD = STUDY_REWARD
BUDGET = 20 * REWARD
OUTSIDER_MARK, LEAVER_MARK = 431.0071, 432.0071
PER_NODE = 7


@dataclass
class Network:
    hospital: Node
    clinic: Node  # the sponsor's node
    setup: StudySetUp

    @property
    def study_id(self) -> int:
        return self.setup.study.study_id


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
            marks = {PER_NODE - 1: OUTSIDER_MARK, PER_NODE - 2: LEAVER_MARK}
            setup = set_up_study(hospital, clinic, per_node=PER_NODE, budget=BUDGET, marks=marks)
            with (
                NodeProcess(hospital.home, ports[0], passphrase=PASSPHRASE, cwd=ROOT).start(),
                NodeProcess(clinic.home, ports[1], passphrase=PASSPHRASE, cwd=ROOT).start(),
            ):
                yield Network(hospital, clinic, setup)
        finally:
            clinic.close()
            hospital.close()


def _patients_in(release: NodeRelease) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in release.ndjson.splitlines()]
    return [r for r in lines if r["resourceType"] == "Patient"]


def test_nothing_is_joined_or_released_before_an_ethics_board_approves(network: Network) -> None:
    with pytest.raises(TransactionReverted, match="not approved"):
        network.hospital.studies.join(NODE_WALLET, network.study_id, network.setup.hospital_patients[0])
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
    *joining, leaver, outsider = network.setup.hospital_patients
    for patient in [*joining, leaver]:
        hospital.studies.join(NODE_WALLET, study_id, patient)
    for patient in network.setup.clinic_patients[1:]:
        clinic.studies.join(NODE_WALLET, study_id, patient)
    clinic.studies.join("carol", study_id, network.setup.carol.address)
    hospital.studies.leave(NODE_WALLET, study_id, leaver)
    token = clinic.contracts.token()
    before = token.balance_of(network.setup.carol.address)

    delivered = {d.custodian: d for d in clinic.studies.gather_release("lab", study_id)}

    at_hospital, at_clinic = delivered[hospital.address], delivered[clinic.address]
    assert (at_hospital.problem, at_clinic.problem) == (None, None)
    assert len(_patients_in(at_hospital)) == len(joining)
    assert len(_patients_in(at_clinic)) == len(network.setup.clinic_patients)
    text = at_hospital.ndjson.decode()
    assert str(OUTSIDER_MARK) not in text
    assert str(LEAVER_MARK) not in text
    research = clinic.contracts.research()
    assert token.balance_of(network.setup.carol.address) == before + REWARD
    assert all(research.held(p) == REWARD for p in [*joining, *network.setup.clinic_patients[1:]])
    assert research.held(leaver) == research.held(outsider) == 0
    assert research.study(study_id).escrow == BUDGET - (len(joining) + len(network.setup.clinic_patients)) * REWARD
    released_to = {
        e.access.patient for e in hospital.audit.entries(limit=500) if e.access.interaction == "study-release"
    }
    assert set(joining) <= released_to
    assert not {leaver, outsider} & released_to

    claimer = Account.create()  # a custodial participant claims her identity: her held reward is paid to her wallet
    code = hospital.claiming.issue(joining[0]).code
    her_key = PrivateKey.derive(claimer.key, Suite.X25519, 1).public_key
    hospital.claiming.claim(joining[0], code, claimer.address, her_key)
    assert (token.balance_of(claimer.address), research.held(joining[0])) == (REWARD, 0)

    again = {d.custodian: d for d in clinic.studies.gather_release("lab", study_id)}
    assert again[hospital.address].root == at_hospital.root  # the same data, the same root: nobody paid twice
    assert token.balance_of(network.setup.carol.address) == before + REWARD

    (mine,) = clinic.studies.mine(network.setup.carol.address)
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
        with pytest.raises(NotFound, match="no study"):
            client.study({**signed.to_json(), "study": 2**200})


def _signed_in(url: str, account: LocalAccount) -> httpx.Client:
    message, signature = signed_in_message(url, account)
    token = httpx.post(f"{url}/auth/login", json={"message": message, "signature": signature}).json()["access_token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _signed(account: LocalAccount, typed: dict[str, Any]) -> dict[str, Any]:
    return {"typed_data": typed, "signature": "0x" + bytes(account.sign_typed_data(full_message=typed).signature).hex()}


def test_a_patient_with_a_wallet_elsewhere_joins_through_the_api_and_is_paid(network: Network) -> None:
    clinic, hospital, study_id = network.clinic, network.hospital, network.study_id
    dora = Account.create()
    key = PrivateKey.derive(dora.key, Suite.X25519, 1).public_key
    hospital.contracts.identity_registry(as_wallet=NODE_WALLET).register_actor(dora.address, Role.PATIENT, key)
    patient = synthetic_patients(1, seed=33)[0]
    clinic._records.write(
        {**patient.patient, "birthDate": "1985-06-01", "gender": "female"}, patient_address=dora.address
    )
    for record in patient.records:
        clinic._records.write(record)
    url = clinic.contracts.identity_registry().require_actor(clinic.address).endpoint
    assert httpx.get(f"{url}/research/studies/{study_id}").status_code == 401
    with _signed_in(url, dora) as api:
        assert api.get(f"/research/studies/{study_id}").json()["approved_by"] is not None
        assert api.get("/research/studies/-1").status_code == 400  # no uint256: refused, not a server error
        prepared = api.get(f"/research/studies/{study_id}/participation", params={"join": "true"}).json()
        assert set(prepared) == {"participation", "consent"}
        malformed = api.post(
            f"/research/studies/{study_id}/participation", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 400
        for_carol = {**prepared["participation"]}
        for_carol["message"] = {**for_carol["message"], "patient": network.setup.carol.address}
        forged = {"participation": _signed(dora, for_carol), "consent": _signed(dora, prepared["consent"])}
        assert api.post(f"/research/studies/{study_id}/participation", json=forged).status_code == 400
        not_a_number = {
            **prepared["participation"],
            "message": {**prepared["participation"]["message"], "studyId": "x"},
        }
        signature = _signed(dora, prepared["participation"])["signature"]
        garbled = {"participation": {"typed_data": not_a_number, "signature": signature}}
        assert api.post(f"/research/studies/{study_id}/participation", json=garbled).status_code == 400
        unsigned = {"participation": {"typed_data": prepared["participation"], "signature": "0x00"}}
        assert api.post(f"/research/studies/{study_id}/participation", json=unsigned).status_code == 401
        joined = api.post(
            f"/research/studies/{study_id}/participation",
            json={name: _signed(dora, typed) for name, typed in prepared.items()},
        )
        assert joined.status_code == 200, joined.text
        assert joined.json()["consent"]
        delivered = {d.custodian: d for d in clinic.studies.gather_release("lab", study_id)}
        assert len(_patients_in(delivered[clinic.address])) == len(network.setup.clinic_patients) + 1
        assert clinic.contracts.token().balance_of(dora.address) == REWARD
        (mine,) = api.get("/research/mine").json()["studies"]
        assert (mine["study"], mine["earned"], len(mine["releases"])) == (study_id, "10", 1)


def test_a_researchers_own_wallet_sends_the_transactions_the_api_prepares(network: Network) -> None:
    clinic = network.clinic
    url = clinic.contracts.identity_registry().require_actor(clinic.address).endpoint
    sponsor = clinic.unlock("lab").account  # as her own wallet holds it: the node only prepares
    network.hospital.contracts.token(as_wallet=NODE_WALLET).mint(sponsor.address, 2 * REWARD)
    terms = {"protocol_hash": "0x" + "ab" * 32, "categories": ["labs"], "data_from": 0, "data_to": 2**32}
    terms |= {"days": 30, "epsilon": 0.5, "reward": REWARD, "budget": 2 * REWARD}
    research = clinic.contracts.research()
    before = research.study_count()
    with _signed_in(url, sponsor) as api:
        prepared = api.post("/research/studies/transactions", json=terms)
        assert prepared.status_code == 200, prepared.text
        _send(clinic, sponsor, prepared.json()["transactions"])
    study = research.study(before + 1)
    assert (study.sponsor, study.terms.protocol_hash, study.escrow) == (sponsor.address, b"\xab" * 32, 2 * REWARD)


def test_a_sponsors_own_wallet_tops_up_with_the_transactions_the_api_prepares(network: Network) -> None:
    clinic, study_id = network.clinic, network.study_id
    url = clinic.contracts.identity_registry().require_actor(clinic.address).endpoint
    sponsor = clinic.unlock("lab").account
    network.hospital.contracts.token(as_wallet=NODE_WALLET).mint(sponsor.address, REWARD)
    research = clinic.contracts.research()
    before = research.study(study_id)
    with _signed_in(url, sponsor) as api:
        for bad in ({"amount": 0}, {"amount": "10"}, {"amount": True}, {"amount": -1}, {}):
            assert api.post(f"/research/studies/{study_id}/top-up", json=bad).status_code == 400, bad
        assert api.post("/research/studies/999/top-up", json={"amount": REWARD}).status_code == 404
        prepared = api.post(f"/research/studies/{study_id}/top-up", json={"amount": REWARD})
        assert prepared.status_code == 200, prepared.text
        _send(clinic, sponsor, prepared.json()["transactions"])
    after = research.study(study_id)
    assert (after.escrow, after.terms.budget) == (before.escrow + REWARD, before.terms.budget + REWARD)


def _send(node: Node, account: LocalAccount, transactions: list[dict[str, str]]) -> None:
    """Send what the API prepared from `account`, as her own wallet would, each mined and successful."""
    w3 = node.chain.w3
    for tx in transactions:
        fields = {"to": tx["to"], "data": tx["data"], "value": 0, "chainId": node.chain_id}
        fields |= {"nonce": w3.eth.get_transaction_count(account.address), "gas": 500_000}
        fields |= {"maxFeePerGas": 2 * w3.eth.gas_price + 1, "maxPriorityFeePerGas": 1}
        raw = account.sign_transaction(fields).raw_transaction
        assert w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))["status"] == 1


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


def test_the_sponsor_gathers_with_the_cli_as_an_operator_would(network: Network, tmp_path: Path) -> None:
    def careledger(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "careledger", "--home", str(network.clinic.home.path), "study", *args, "--json"],
            env={**os.environ, "CARELEDGER_PASSPHRASE": PASSPHRASE},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    study = str(network.study_id)
    delivered = {d["custodian"]: d for d in careledger("release", study, "--as", "lab", "--out", str(tmp_path))}
    for custodian, answer in delivered.items():
        lines = (tmp_path / f"{custodian}.ndjson").read_bytes().splitlines()
        assert len(lines) == answer["records"] > 0
        assert json.loads((tmp_path / f"{custodian}.report.json").read_text())["k"] == 5
    counted = careledger("query", study, "--as", "lab", "--kind", "count", "--epsilon", "0.05")
    assert all(n["problem"] is None for n in counted["nodes"])
    refused = careledger("query", study, "--as", "lab", "--kind", "count", "--epsilon", "0.5")
    assert all("budget" in n["problem"] for n in refused["nodes"])
    (mine,) = careledger("mine", "--patient", "carol")["studies"]
    assert mine["earned"] == "10"
