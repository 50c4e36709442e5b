"""A custodian's study desk on one served node (memory chain): what a release carries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest

from careledger.api import NodeServer, free_port
from careledger.config import NODE_WALLET, Settings
from careledger.node import Node
from careledger.records import Category
from careledger.research import protocol_hash
from careledger.testdata import STUDY_REWARD, StudySetUp, founding_node, set_up_study

PER_NODE = 5  # the default k: every participant is in one class, so k-anonymity keeps them all
SNOMED = "http://snomed.info/sct"
HYPERTENSION = "38341003"  # every participant has it, so no rare-code suppression hides a Condition


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
