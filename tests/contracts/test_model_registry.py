"""ModelRegistry.vy under titanoboa: a study's sponsor registers model versions by hash, and retires them."""

from __future__ import annotations

from typing import Any

import boa
import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.conftest import contract
from tests.contracts.test_research import DAY, ORG, World, _approve, _now, _register, _register_study
from tests.contracts.test_research import world as world  # the same deployment of studies, reused

WEIGHTS, CARD = b"\x0a" * 32, b"\x0c" * 32
# `_register_study` approves epsilon 1 (1_000 thousandths): at most 1_000_000 millionths for a model.
STUDY_EPSILON_MICRO = 1_000_000


@pytest.fixture
def models(world: World) -> Any:
    return contract("ModelRegistry").deploy(world.research.address)


@pytest.fixture
def nodes(world: World) -> list[Any]:
    found = [_register(world.identity, world.admin, boa.env.generate_address(f"node {i}"), ORG) for i in range(3)]
    return _ascending(found)


@pytest.fixture
def study(world: World) -> int:
    study_id = _register_study(world)
    _approve(world, study_id)
    return study_id


def _ascending(addresses: list[Any]) -> list[Any]:
    return sorted(addresses, key=lambda a: int(str(a), 16))


def _model_id(study_id: int, version: int) -> bytes:
    return keccak(encode(["uint256", "uint32"], [study_id, version]))


def _register_model(world: World, models: Any, study: int, nodes: list[Any], version: int = 1) -> bytes:
    with boa.env.prank(world.sponsor):
        return bytes(models.register(study, version, WEIGHTS, CARD, nodes, 5, 750_000))


def test_the_sponsor_registers_a_version_by_its_derived_id(world: World, models: Any, study: int, nodes: Any) -> None:
    model_id = _register_model(world, models, study, nodes)
    assert model_id == _model_id(study, 1)
    (event,) = models.get_logs()
    assert (type(event).__name__, bytes(event.model_id), event.study_id, event.sponsor, event.version) == (
        "ModelRegistered",
        model_id,
        study,
        world.sponsor,
        1,
    )
    assert (bytes(event.weights_hash), bytes(event.card_hash), list(event.nodes), event.rounds) == (
        WEIGHTS,
        CARD,
        nodes,
        5,
    )
    assert event.epsilon_micro == 750_000
    model = models.model(model_id)
    assert (model.study_id, model.version, model.sponsor, bytes(model.weights_hash), bytes(model.card_hash)) == (
        study,
        1,
        world.sponsor,
        WEIGHTS,
        CARD,
    )
    assert (list(model.nodes), model.rounds, model.epsilon_micro, model.retired_at) == (nodes, 5, 750_000, 0)
    assert bytes(models.latest_of(study)) == model_id
    assert models.is_usable(model_id, WEIGHTS)
    assert not models.is_usable(model_id, b"\x0b" * 32)
    assert models.IDENTITY() == world.identity.address


def test_only_the_sponsor_of_an_approved_running_study_registers(
    world: World, models: Any, study: int, nodes: Any
) -> None:
    with boa.env.prank(world.hospital), boa.reverts("models: not the sponsor"):
        models.register(study, 1, WEIGHTS, CARD, nodes, 5, 1)
    with boa.env.prank(world.sponsor), boa.reverts("models: no such study"):
        models.register(study + 7, 1, WEIGHTS, CARD, nodes, 5, 1)
    pending = _register_study(world)
    with boa.env.prank(world.sponsor), boa.reverts("models: the study is not approved"):
        models.register(pending, 1, WEIGHTS, CARD, nodes, 5, 1)
    boa.env.time_travel(seconds=91 * DAY)
    with boa.env.prank(world.sponsor), boa.reverts("models: the study has ended"):
        models.register(study, 1, WEIGHTS, CARD, nodes, 5, 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"weights": bytes(32)}, "models: no hash"),
        ({"card": bytes(32)}, "models: no hash"),
        ({"rounds": 0}, "models: no rounds"),
        ({"epsilon": 0}, "models: no privacy budget"),
        ({"epsilon": STUDY_EPSILON_MICRO + 1}, "models: epsilon above the study's budget"),
        ({"version": 0}, "models: version not above the latest"),
        ({"nodes": []}, "models: no training nodes"),
        ({"nodes": "reversed"}, "models: training nodes not in ascending order"),
        ({"nodes": "twice"}, "models: training nodes not in ascending order"),
        ({"nodes": "stranger"}, "models: a training node is not an organisation"),
        ({"nodes": "patient"}, "models: a training node is not an organisation"),
        ({"nodes": "researcher"}, "models: a training node is not an organisation"),
    ],
)
def test_a_registration_missing_its_terms_is_refused(
    world: World, models: Any, study: int, nodes: list[Any], change: dict[str, Any], reason: str
) -> None:
    named = {
        "reversed": nodes[::-1],
        "twice": [nodes[0], nodes[0]],
        "stranger": _ascending([*nodes, boa.env.generate_address("unregistered")]),
        "patient": _ascending([*nodes, world.patients[0].address]),
        "researcher": _ascending([*nodes, world.sponsor]),
    }
    terms = {"version": 1, "weights": WEIGHTS, "card": CARD, "nodes": nodes, "rounds": 5, "epsilon": 1} | change
    trained_by = named[terms["nodes"]] if isinstance(terms["nodes"], str) else terms["nodes"]
    with boa.env.prank(world.sponsor), boa.reverts(reason):
        models.register(
            study, terms["version"], terms["weights"], terms["card"], trained_by, terms["rounds"], terms["epsilon"]
        )


def test_a_model_may_spend_exactly_the_study_budget(world: World, models: Any, study: int, nodes: Any) -> None:
    with boa.env.prank(world.sponsor):
        model_id = models.register(study, 1, WEIGHTS, CARD, nodes, 5, STUDY_EPSILON_MICRO)
    assert models.model(model_id).epsilon_micro == STUDY_EPSILON_MICRO


def test_versions_only_increase_and_the_latest_follows(world: World, models: Any, study: int, nodes: Any) -> None:
    _register_model(world, models, study, nodes, version=2)
    for stale in (1, 2):
        with boa.env.prank(world.sponsor), boa.reverts("models: version not above the latest"):
            models.register(study, stale, WEIGHTS, CARD, nodes, 5, 1)
    third = _register_model(world, models, study, nodes, version=3)
    assert bytes(models.latest_of(study)) == third
    assert models.model(_model_id(study, 2)).version == 2


def test_only_the_sponsor_retires_once_and_a_retired_model_is_unusable(
    world: World, models: Any, study: int, nodes: Any
) -> None:
    model_id = _register_model(world, models, study, nodes)
    with boa.env.prank(world.hospital), boa.reverts("models: not the sponsor"):
        models.retire(model_id)
    with boa.env.prank(world.sponsor), boa.reverts("models: no such model"):
        models.retire(b"\x01" * 32)
    with boa.env.prank(world.sponsor):
        models.retire(model_id)
    assert [type(e).__name__ for e in models.get_logs()] == ["ModelRetired"]
    assert models.model(model_id).retired_at == _now()
    assert not models.is_usable(model_id, WEIGHTS)
    with boa.env.prank(world.sponsor), boa.reverts("models: already retired"):
        models.retire(model_id)


def test_a_deployment_needs_a_research_contract() -> None:
    with boa.reverts("models: no research contract"):
        contract("ModelRegistry").deploy("0x" + "00" * 20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions=st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=6))
def test_the_latest_version_is_always_the_highest_accepted(
    world: World, models: Any, study: int, nodes: Any, versions: list[int]
) -> None:
    with boa.env.anchor():
        highest = 0
        for version in versions:
            with boa.env.prank(world.sponsor):
                if version > highest:
                    models.register(study, version, WEIGHTS, CARD, nodes, 1, 1)
                    highest = version
                else:
                    with boa.reverts("models: version not above the latest"):
                        models.register(study, version, WEIGHTS, CARD, nodes, 1, 1)
        assert models.model(models.latest_of(study)).version == highest
