"""Models on one node and a memory chain: registered by the study's sponsor, loaded only as the chain has them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from careledger.chain import model_id_of
from careledger.config import NODE_WALLET, Settings
from careledger.crypto import keccak
from careledger.errors import AccessDenied, Conflict, IntegrityError, NotFound, TransactionReverted, ValidationError
from careledger.insight import Models
from careledger.node import Node
from careledger.store import InsightModel
from careledger.testdata import STUDY_REWARD, StudySetUp, founding_node, set_up_study


@dataclass
class World:
    node: Node
    setup: StudySetUp

    @property
    def models(self) -> Models:
        return self.node.models

    @property
    def study_id(self) -> int:
        return self.setup.study.study_id

    @property
    def sponsor(self) -> str:
        return self.setup.sponsor.name

    def card(self, **changes: Any) -> dict[str, Any]:
        """A card as federated training writes one: before registration it cites no id or version."""
        card = {
            "study": self.study_id,
            "version": None,
            "features": [{"system": "http://loinc.org", "code": "8867-4"}],
            "nodes": [self.node.address],
            "rounds": 3,
            "privacy": {"epsilon": 0.8, "delta": 1e-5},  # the study approved epsilon 1
            "metrics": [{"node": self.node.address, "held_out": 20, "auroc": 0.91}],
        }
        return card | changes

    def tamper(self, model_id: str, **values: Any) -> None:
        with self.node.db.session() as session:
            session.execute(update(InsightModel).where(InsightModel.model_id == model_id).values(**values))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    node = founding_node(Path(tmp_path_factory.mktemp("models")) / "node", settings)
    try:
        setup = set_up_study(node, node, per_node=0, budget=STUDY_REWARD)
        node.studies.approve(setup.board.name, setup.study.study_id)
        yield World(node, setup)
    finally:
        node.close()


def test_the_sponsor_registers_the_next_version_and_its_card_cites_it(world: World) -> None:
    before = world.node.contracts.model_registry().latest(world.study_id)
    version = 1 if before is None else before.terms.version + 1

    model = world.models.register(world.sponsor, world.study_id, b"weights v", world.card())

    assert model.model_id == "0x" + model_id_of(world.study_id, version).hex()
    assert (model.version, model.status, model.sponsor) == (version, "usable", world.setup.sponsor.address)
    assert (model.card["model_id"], model.card["version"]) == (model.model_id, version)
    on_chain = world.node.contracts.model_registry().model(model_id_of(world.study_id, version))
    assert on_chain.terms.weights_hash == keccak(b"weights v")
    assert (on_chain.terms.nodes, on_chain.terms.rounds, on_chain.terms.epsilon) == ((world.node.address,), 3, 0.8)
    assert world.models.load(model.model_id) == b"weights v"
    assert world.models.card(model.model_id) == model.card
    assert model.model_id in {m.model_id for m in world.models.all() if m.status == "usable"}
    again = world.models.register(world.sponsor, world.study_id, b"weights v+1", world.card())
    assert again.version == version + 1


def test_anyone_but_the_sponsor_is_refused_and_nothing_is_kept(world: World) -> None:
    kept = len(world.models.all())
    for stranger in (world.setup.board.name, NODE_WALLET):
        with pytest.raises(AccessDenied, match="sponsor registers"):
            world.models.register(stranger, world.study_id, b"w", world.card())
    with pytest.raises(NotFound, match="no study"):
        world.models.register(world.sponsor, world.study_id + 99, b"w", world.card(study=None))
    assert len(world.models.all()) == kept


@pytest.mark.parametrize(
    ("card", "weights", "message"),
    [
        ({"nodes": []}, b"w", "has no nodes"),
        ({"metrics": None}, b"w", "has no metrics"),
        ({"rounds": 0}, b"w", "has no rounds"),
        ({"rounds": "3"}, b"w", "rounds are not"),
        ({"privacy": {"epsilon": float("inf")}}, b"w", "no finite, positive epsilon"),
        ({"privacy": "dp"}, b"w", "no finite, positive epsilon"),
        ({"privacy": {"epsilon": 1.000001}}, b"w", "epsilon 1.000001 is above study .*'s approved privacy budget 1"),
        ({"nodes": [1, 2]}, b"w", "not a list of addresses"),
        ({"nodes": ["hospital-a"]}, b"w", "not a list of addresses"),
        ({"study": 12345}, b"w", "is of study 12345"),
        ({"weights_hash": "0x" + "00" * 32}, b"w", "weights_hash is not"),
        ({"version": 4}, b"w", "already cites"),
        ({}, b"", "none were given"),
    ],
)
def test_a_card_that_misses_or_contradicts_its_terms_is_refused(
    world: World, card: dict[str, Any], weights: bytes, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        world.models.register(world.sponsor, world.study_id, weights, world.card(**card))


def test_a_training_node_that_is_not_an_organisation_is_refused_on_chain(world: World) -> None:
    stranger = "0x" + "12" * 20
    with pytest.raises(TransactionReverted, match="models: a training node is not an organisation"):
        world.models.register(world.sponsor, world.study_id, b"w", world.card(nodes=[world.node.address, stranger]))


def test_tampered_local_weights_or_card_are_refused_on_load(world: World) -> None:
    model = world.models.register(world.sponsor, world.study_id, b"honest weights", world.card())
    world.tamper(model.model_id, weights=b"poisoned weights")
    with pytest.raises(IntegrityError, match="weights are not those registered"):
        world.models.load(model.model_id)
    assert {m.model_id: m.status for m in world.models.all()}[model.model_id] == "altered"
    world.tamper(model.model_id, weights=b"honest weights", card=json.dumps(model.card | {"rounds": 99}))
    with pytest.raises(IntegrityError, match="card is not the one registered"):
        world.models.card(model.model_id)


def test_a_retired_model_is_refused_and_only_its_sponsor_retires_it_once(world: World) -> None:
    model = world.models.register(world.sponsor, world.study_id, b"old weights", world.card())
    with pytest.raises(AccessDenied, match="sponsor retires"):
        world.models.retire(world.setup.board.name, model.model_id)
    assert world.models.retire(world.sponsor, model.model_id).status == "retired"
    with pytest.raises(IntegrityError, match="retired by its sponsor"):
        world.models.load(model.model_id)
    assert {m.model_id: m.status for m in world.models.all()}[model.model_id] == "retired"
    with pytest.raises(Conflict, match="retired already"):
        world.models.retire(world.sponsor, model.model_id)


def test_unknown_and_malformed_ids_are_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="not a model id"):
        world.models.load("0x1234")
    with pytest.raises(NotFound, match="keeps no model"):
        world.models.load("0x" + "ab" * 32)
    with pytest.raises(NotFound, match="no model"):
        world.models.retire(world.sponsor, "0x" + "ab" * 32)


def test_a_model_is_adopted_only_as_the_chain_registered_it(world: World) -> None:
    model = world.models.register(world.sponsor, world.study_id, b"shared weights", world.card())
    with pytest.raises(IntegrityError, match="weights are not those registered"):
        world.models.adopt(b"other weights", model.card)
    with pytest.raises(IntegrityError, match="not registered on chain"):
        world.models.adopt(b"shared weights", model.card | {"model_id": "0x" + "cd" * 32})
    with pytest.raises(ValidationError, match="not a model id"):
        world.models.adopt(b"shared weights", world.card())
    world.tamper(model.model_id, weights=b"lost")
    assert world.models.adopt(b"shared weights", model.card).status == "usable"
    assert world.models.load(model.model_id) == b"shared weights"
