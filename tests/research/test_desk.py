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
from careledger.errors import AccessDenied, ValidationError
from careledger.node import Node
from careledger.records import Category
from careledger.research import StudyRequest, protocol_hash
from careledger.testdata import STUDY_REWARD, StudySetUp, founding_node, set_up_study

PER_NODE = 5  # the default k: every participant is in one class, so k-anonymity keeps them all
SNOMED = "http://snomed.info/sct"
HYPERTENSION = "38341003"  # every participant has it, so no rare-code suppression hides a Condition
HEART_RATE = "http://loinc.org|8867-4"


@dataclass
class Desk:
    node: Node
    setup: StudySetUp
    url: str

    def study(self, *, epsilon: float = 1.0, categories: Iterable[Category] = (Category.LABS, Category.VITALS)) -> int:
        """A new approved study of the sponsor's, paying every hospital participant once."""
        budget = PER_NODE * STUDY_REWARD
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
    for stored in node.records.list():
        if stored.resource_type == "Patient" and stored.patient_address in patients:
            node.records.write(
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
