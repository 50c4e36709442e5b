"""A custodian's study desk on one served node (memory chain): what a release carries, what a query spends, and
which queries it refuses before spending anything."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from careledger.api import NodeServer, free_port
from careledger.config import NODE_WALLET, Settings
from careledger.consent import Purpose
from careledger.crypto import sign_typed_data
from careledger.errors import AccessDenied, Conflict, NotFound, TransactionReverted, ValidationError
from careledger.node import Node
from careledger.records import Category
from careledger.research import RELEASE, StudyRequest, enrolment_view, protocol_hash
from careledger.testdata import STUDY_REWARD, StudySetUp, founding_node, set_up_study, synthetic_patients

PER_NODE = 5  # the default k: every participant is in one class, so k-anonymity keeps them all
SNOMED = "http://snomed.info/sct"
HYPERTENSION = "38341003"  # every participant has it, so no rare-code suppression hides a Condition
HEART_RATE = "http://loinc.org|8867-4"


@dataclass
class Desk:
    node: Node
    setup: StudySetUp
    url: str

    def study(
        self,
        *,
        epsilon: float = 1.0,
        categories: Iterable[Category] = (Category.LABS, Category.VITALS),
        rewards: int = PER_NODE,
    ) -> int:
        """A new approved study of the sponsor's, whose escrow pays `rewards` participants (every hospital
        participant, by default) once."""
        budget = rewards * STUDY_REWARD
        self.node.contracts.token(as_wallet=NODE_WALLET).mint(self.setup.sponsor.address, budget)
        terms = self.node.studies.terms(
            protocol_hash(b"a desk test"),
            categories=categories,
            data_from=0,
            data_to=2**33,
            days=30,
            epsilon=epsilon,
            reward=STUDY_REWARD,
            budget=budget,
        )
        study_id = self.node.studies.create(self.setup.sponsor.name, terms).study_id
        self.node.studies.approve(self.setup.board.name, study_id)
        return study_id

    def join_all(self, study_id: int) -> None:
        for patient in self.setup.hospital_patients:
            self.node.studies.join(NODE_WALLET, study_id, patient)

    def signed(self, study_id: int, ask: dict[str, Any]) -> StudyRequest:
        registry = self.node.contracts.identity_registry().address
        request = StudyRequest.new(study_id, self.node.address, ask)
        return request.signed(self.node.unlock(self.setup.sponsor.name).account, self.node.chain_id, registry)

    def query(self, study_id: int, ask: dict[str, Any]) -> dict[str, Any]:
        return self.node.study_desk.query(self.signed(study_id, ask))

    def releases_told(self, patient: str, study_id: int) -> list[dict[str, Any]]:
        """The releases to the study `study mine` tells the patient of."""
        (enrolment,) = self.node.studies.mine(patient, among=[self.node.studies.show(study_id)])
        return list(enrolment_view(enrolment)["releases"])

    def released_types(self, study_id: int) -> set[str]:
        (delivered,) = self.node.studies.gather_release(self.setup.sponsor.name, study_id)
        assert delivered.problem is None
        return {json.loads(line)["resourceType"] for line in delivered.ndjson.splitlines()}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    node = founding_node(tmp_path_factory.mktemp("desk") / "node", settings, endpoint=url)
    server = NodeServer(node, port=port)
    try:
        setup = set_up_study(node, node, per_node=PER_NODE, budget=PER_NODE * STUDY_REWARD)
        _give_everyone_hypertension(node, setup.hospital_patients)
        server.start()
        yield Desk(node, setup, url)
    finally:
        server.stop()
        node.close()


def _give_everyone_hypertension(node: Node, patients: list[str]) -> None:
    for stored in node._records.list():
        if stored.resource_type == "Patient" and stored.patient_address in patients:
            node._records.write(
                {
                    "resourceType": "Condition",
                    "clinicalStatus": {"coding": [{"system": SNOMED, "code": "active"}]},
                    "code": {"coding": [{"system": SNOMED, "code": HYPERTENSION, "display": "Hypertension"}]},
                    "subject": {"reference": f"Patient/{stored.record_id}"},
                    "onsetDateTime": "2024-03-01",
                }
            )


# What a release carries ----------------------------------------------------------------


def test_a_release_carries_only_the_studys_categories_and_the_patients(desk: Desk) -> None:
    labs_and_vitals = desk.setup.study.study_id
    desk.node.studies.approve(desk.setup.board.name, labs_and_vitals)
    desk.join_all(labs_and_vitals)
    general = desk.study(categories=[Category.GENERAL])
    desk.join_all(general)

    released = desk.released_types(labs_and_vitals)
    asked_for_general = desk.released_types(general)

    assert {"Patient", "Observation"} <= released
    assert not {"Encounter", "Condition", "Immunization", "AllergyIntolerance"} & released
    assert {"Patient", "Encounter", "Condition"} <= asked_for_general  # what the first left out, a study may ask for
    assert "Observation" not in asked_for_general


def test_a_participant_left_out_by_k_anonymity_is_not_told_her_records_were_released(desk: Desk) -> None:
    study_id = desk.study(rewards=PER_NODE + 1)
    desk.join_all(study_id)
    alone = synthetic_patients(1, seed=77)[0]  # born in the 1940s, male: a class of one
    outlier = desk.node._records.write({**alone.patient, "birthDate": "1941-02-03", "gender": "male"}).patient_address
    for record in alone.records:
        desk.node._records.write(record)
    desk.node.studies.join(NODE_WALLET, study_id, outlier)

    (delivered,) = desk.node.studies.gather_release(desk.setup.sponsor.name, study_id)

    assert delivered.report["patients_suppressed"] == 1
    assert desk.releases_told(outlier, study_id) == []
    assert desk.node.contracts.research().held(outlier) == 0
    (told,) = desk.releases_told(desk.setup.hospital_patients[0], study_id)
    assert told["to"] == desk.setup.sponsor.address
    assert 1 < told["records"] < delivered.records  # her Patient and records, not the others'


def test_a_release_to_one_study_is_not_told_as_one_to_another_of_the_same_sponsor(desk: Desk) -> None:
    released, other = desk.study(), desk.study()
    desk.join_all(released)
    desk.join_all(other)

    desk.released_types(released)

    patient = desk.setup.hospital_patients[0]
    assert len(desk.releases_told(patient, released)) == 1
    assert desk.releases_told(patient, other) == []


# What the escrow pays ------------------------------------------------------------------


def test_a_join_the_escrow_cannot_pay_is_refused_before_she_signs_until_a_top_up(desk: Desk) -> None:
    study_id = desk.study(rewards=2)
    first, second, third = desk.setup.hospital_patients[:3]
    sponsor, studies = desk.setup.sponsor, desk.node.studies
    studies.join(NODE_WALLET, study_id, first)
    late = studies.prepare(study_id, second, join=True)  # prepared while there was room
    studies.join(NODE_WALLET, study_id, third)

    with pytest.raises(Conflict, match=r"escrow cannot pay another participant: its 20 CARE hold .* the 2 taking"):
        studies.prepare(study_id, second, join=True)
    node_account = desk.node.unlock(NODE_WALLET).account  # her custodian signs for her
    signatures = {name: sign_typed_data(node_account, typed) for name, typed in late.items()}
    studies.consent.sync()
    consents = len(studies.consent.grants(patient=second, grantee=sponsor.address))
    with pytest.raises(Conflict, match="escrow cannot pay another participant"):
        studies.submit_signed(second, study_id, late, signatures)
    studies.consent.sync()
    assert len(studies.consent.grants(patient=second, grantee=sponsor.address)) == consents  # no consent for nothing
    assert desk.node.contracts.research().participation(study_id, second).joined_at == 0

    desk.node.contracts.token(as_wallet=NODE_WALLET).mint(sponsor.address, STUDY_REWARD)
    topped = studies.top_up(sponsor.name, study_id, STUDY_REWARD)

    assert (topped.terms.budget, topped.escrow, topped.places) == (3 * STUDY_REWARD, 3 * STUDY_REWARD, 1)
    studies.join(NODE_WALLET, study_id, second)
    assert studies.show(study_id).participants == 3


def test_a_top_up_of_nothing_or_past_the_wallets_care_sends_nothing(desk: Desk) -> None:
    study_id = desk.study()
    sponsor, studies = desk.setup.sponsor, desk.node.studies
    token, research = desk.node.contracts.token(), desk.node.contracts.research()
    held = token.balance_of(sponsor.address)

    with pytest.raises(ValidationError, match="more than nothing"):
        studies.top_up(sponsor.name, study_id, 0)
    with pytest.raises(Conflict, match="less than the"):
        studies.top_up(sponsor.name, study_id, held + 1)
    with pytest.raises(NotFound, match="no study"):
        studies.top_up(sponsor.name, 10**6, STUDY_REWARD)

    assert token.allowance(sponsor.address, research.address) == 0  # no approval left behind
    assert studies.show(study_id).escrow == PER_NODE * STUDY_REWARD


# What a query spends -------------------------------------------------------------------


def test_a_spend_below_a_thousandth_of_epsilon_is_charged_and_rounded_up(desk: Desk) -> None:
    study_id = desk.study(epsilon=0.1)

    assert desk.query(study_id, {"kind": "count", "epsilon": 0.00049})["epsilon_left"] == 0.09951
    # 1.5 millionths is charged as two: a spend is rounded against the spender.
    assert desk.query(study_id, {"kind": "count", "epsilon": 0.0000015})["epsilon_left"] == 0.099508


def test_small_spends_add_up_to_the_budget_and_are_then_refused(desk: Desk) -> None:
    study_id = desk.study(epsilon=0.001)
    small = {"kind": "count", "epsilon": 0.00049}

    desk.query(study_id, small)
    assert desk.query(study_id, small)["epsilon_left"] == 0.00002
    with pytest.raises(AccessDenied, match="budget"):
        desk.query(study_id, small)


@pytest.mark.parametrize("epsilon", [1e-300, 9e-7])
def test_an_epsilon_below_one_millionth_is_refused_and_spends_nothing(desk: Desk, epsilon: float) -> None:
    study_id = desk.study(epsilon=0.1)

    with pytest.raises(ValidationError, match="epsilon"):
        desk.query(study_id, {"kind": "count", "epsilon": epsilon})
    assert desk.query(study_id, {"kind": "count", "epsilon": 0.05})["epsilon_left"] == 0.05


def test_a_study_budget_finer_than_a_thousandth_is_refused(desk: Desk) -> None:
    with pytest.raises(ValidationError, match="thousandth"):
        desk.study(epsilon=0.0015)  # the chain keeps thousandths: it would have been 0.002


# Bounds ----------------------------------------------------------------------------------


def test_a_mean_with_bounds_past_a_billion_is_400_and_spends_nothing(desk: Desk) -> None:
    study_id = desk.study(epsilon=1.0)
    desk.join_all(study_id)
    huge = {"kind": "mean", "epsilon": 0.5, "code": HEART_RATE, "bounds": [-1e308, 1e308], "bins": 10}

    response = httpx.post(f"{desk.url}/exchange/study", json=desk.signed(study_id, huge).to_json(), timeout=60)

    assert response.status_code == 400, response.text
    assert "bounds" in response.text
    widest = {**huge, "bounds": [-1e9, 1e9]}
    answered = desk.query(study_id, widest)
    assert answered["epsilon_left"] == 0.5
    assert all(isinstance(v, int | float) and abs(v) < 1e300 for v in answered["part"].values())


# A release the chain would not record --------------------------------------------------


@pytest.fixture
def lone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """A node of its own (no server: its desk is asked directly), for a test that deactivates an actor."""
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    node = founding_node(tmp_path_factory.mktemp("lone") / "node", settings)
    try:
        setup = set_up_study(node, node, per_node=PER_NODE, budget=PER_NODE * STUDY_REWARD)
        node.studies.approve(setup.board.name, setup.study.study_id)
        yield Desk(node, setup, "")
    finally:
        node.close()


def test_a_release_the_chain_refuses_is_told_to_no_patient_as_released(lone: Desk) -> None:
    study_id = lone.setup.study.study_id
    lone.join_all(study_id)
    registry = lone.node.contracts.identity_registry(as_wallet=NODE_WALLET)
    registry.deactivate(lone.node.address)  # the chain records no release of an inactive node

    with pytest.raises(TransactionReverted, match="not an active actor"):
        lone.node.study_desk.release(lone.signed(study_id, RELEASE))

    patient = lone.setup.hospital_patients[0]
    assert lone.releases_told(patient, study_id) == []
    opened = [e for e in lone.node.audit.entries(patient=patient) if e.access.interaction == "study-release"]
    assert [e.access.purpose for e in opened] == [Purpose.HRESCH.value]  # her accounting: opened, not released


def test_a_release_to_a_sponsor_no_longer_registered_is_refused_before_it_is_recorded(lone: Desk) -> None:
    study_id = lone.setup.study.study_id
    lone.join_all(study_id)
    lone.node.contracts.identity_registry(as_wallet=NODE_WALLET).deactivate(lone.setup.sponsor.address)

    with pytest.raises(AccessDenied, match="not an active registered actor"):
        lone.node.study_desk.release(lone.signed(study_id, RELEASE))

    research = lone.node.contracts.research()
    assert research.study(study_id).escrow == PER_NODE * STUDY_REWARD  # nobody paid for a release nobody gets
    assert all(research.held(p) == 0 for p in lone.setup.hospital_patients)
    assert not [e for e in lone.node.audit.entries() if e.access.interaction == "study-release"]
