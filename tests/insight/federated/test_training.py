"""Federated training of a study across three in-process nodes on one memory chain, with scikit-learn's breast
cancer data charted on them as FHIR: as good as pooling, better than any node alone, by SecAgg+ with DP, and no
record leaving a node."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from careledger.api import NodeServer, free_port
from careledger.chain import open_chain
from careledger.config import NODE_WALLET, Settings
from careledger.crypto import keccak
from careledger.errors import AccessDenied, ValidationError
from careledger.identity import Wallet
from careledger.insight.federated import (
    HELD_OUT,
    Fitting,
    RemoteSite,
    TrainedModel,
    epsilon,
    fit,
    initial,
    is_held_out,
    model_card,
    register_trained,
    remote_site,
    scores,
    study_site,
    train,
    weights_bytes,
    weights_from_bytes,
    weights_hash,
)
from careledger.insight.federated._dataset import Split, breast_cancer_task, dataset, patient_id, resources, split
from careledger.node import Node
from careledger.records import Category
from careledger.research import StudyRequest, protocol_hash
from careledger.testdata import STUDY_REWARD, founding_node, joining_node, set_up_study

OUTSIDERS = 2  # patients charted on each node who never join the study
ROUNDS = 3  # the default: ε ≈ 21, within the study's approved 25
STAGES = {"setup", "share_keys", "collect_masked_vectors", "unmask"}


@dataclass
class Federation:
    nodes: list[Node]
    sponsor: Wallet
    board: Wallet
    study_id: int
    split: Split
    participants: dict[str, list[str]]  # node address -> patient addresses that joined
    outsiders: dict[str, list[str]]
    model: TrainedModel
    urls: list[str]  # where each node serves

    def remote(self, index: int, study_id: int, *, as_wallet: str | None = None) -> RemoteSite:
        """Node `index` over HTTP, each message signed by the sponsor (kept on node 1), or by `as_wallet` there."""
        aggregator = self.nodes[1]
        account = aggregator.unlock(as_wallet or self.sponsor.name).account
        registry = aggregator.contracts.identity_registry().address
        custodian = self.nodes[index].address
        return remote_site(
            study_id, custodian, self.urls[index], breast_cancer_task(), account, aggregator.chain_id, registry
        )

    def study(self) -> int:
        """A new study of the sponsor's, registered and not approved, nobody in it."""
        self.nodes[0].contracts.token(as_wallet=NODE_WALLET).mint(self.sponsor.address, STUDY_REWARD)
        terms = self.nodes[1].studies.terms(
            protocol_hash(b"another"),
            categories=[Category.LABS],
            data_from=0,
            data_to=2**33,
            days=30,
            epsilon=1.0,
            reward=STUDY_REWARD,
            budget=STUDY_REWARD,
        )
        return self.nodes[1].studies.create(self.sponsor.name, terms).study_id


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    tmp = tmp_path_factory.mktemp("federated")
    settings = Settings(chain="memory", light_kdf=True, anchor_in_background=False)
    shares = split()
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(3)]
    with open_chain("memory") as chain:
        first = founding_node(tmp / "a", settings, urls[0], chain=chain)
        nodes = [first] + [
            joining_node(tmp / n, settings, first, url, chain=chain) for n, url in zip("bc", urls[1:], strict=True)
        ]
        servers = [NodeServer(node, port=int(url.rsplit(":", 1)[1])) for node, url in zip(nodes, urls, strict=True)]
        try:
            first.contracts.identity_registry(as_wallet=NODE_WALLET).grant_role("REGISTRAR_ROLE", nodes[2].address)
            setup = set_up_study(first, nodes[1], per_node=0, budget=STUDY_REWARD)
            joining = sum(len(rows) for rows in shares.nodes)
            study_id = _study(nodes, setup.sponsor, setup.board, joining)
            participants, outsiders = {}, {}
            others = iter(shares.outside)
            for node, rows in zip(nodes, shares.nodes, strict=True):
                participants[node.address] = [_chart(node, row) for row in rows]
                outsiders[node.address] = [_chart(node, next(others)) for _ in range(OUTSIDERS)]
                for patient in participants[node.address]:
                    node.studies.join(NODE_WALLET, study_id, patient)
            np.random.seed(7)  # the DP noise (Flower draws it from numpy's global generator): a reproducible run
            task = breast_cancer_task()
            model = train(study_id, [study_site(n.study_desk, study_id, task) for n in nodes], rounds=ROUNDS)
            for server in servers:
                server.start()
            yield Federation(nodes, setup.sponsor, setup.board, study_id, shares, participants, outsiders, model, urls)
        finally:
            for server in servers:
                server.stop()
            for node in nodes:
                node.close()


def _study(nodes: list[Node], sponsor: Wallet, board: Wallet, participants: int) -> int:
    """The sponsor's approved study of labs (the aspirates) and general records (the diagnoses)."""
    budget = participants * STUDY_REWARD
    nodes[0].contracts.token(as_wallet=NODE_WALLET).mint(sponsor.address, budget)
    terms = nodes[1].studies.terms(
        protocol_hash(b"Malignancy from fine-needle aspirates: a federated model. Protocol v1."),
        categories=[Category.GENERAL, Category.LABS],
        data_from=0,
        data_to=2**33,
        days=30,
        epsilon=25.0,
        reward=STUDY_REWARD,
        budget=budget,
    )
    study_id = nodes[1].studies.create(sponsor.name, terms).study_id
    nodes[0].studies.approve(board.name, study_id)
    return study_id


def _chart(node: Node, row: int) -> str:
    """Chart dataset row `row` on `node`; her address."""
    patient, *rest = resources(row)
    address = node.maintenance.write(patient).patient_address
    for resource in rest:
        node.maintenance.write(resource)
    return address


def _training_rows(rows: tuple[int, ...]) -> list[int]:
    return [row for row in rows if not is_held_out(patient_id(row), HELD_OUT)]


def _pooled(shares: Split) -> list[int]:
    """Every node's training rows, as if they had been pooled in one place."""
    return [row for rows in shares.nodes for row in _training_rows(rows)]


def _auroc(weights: list[np.ndarray], rows: list[int]) -> float:
    data, task = dataset(), breast_cancer_task()
    return float(roc_auc_score(data.y[rows], scores(weights, task.scaled(data.x[rows]))))


def _alone(rows: list[int]) -> list[np.ndarray]:
    """The same model trained to convergence on `rows` only."""
    data, task = dataset(), breast_cancer_task()
    return fit(initial(task), task.scaled(data.x[rows]), data.y[rows], Fitting(steps=ROUNDS * Fitting().steps))


# As good as pooling, better than alone -------------------------------------------------


def test_the_federated_model_is_as_good_as_pooled_data_and_better_than_any_node_alone(federation: Federation) -> None:
    held_out = list(federation.split.outside)  # rows no node has: nobody trained on them

    federated = _auroc(list(federation.model.weights), held_out)
    pooled = _auroc(_alone(_pooled(federation.split)), held_out)
    alone = [_auroc(_alone(_training_rows(rows)), held_out) for rows in federation.split.nodes]

    assert abs(federated - pooled) <= 0.02, (federated, pooled)
    assert all(federated > one for one in alone), (federated, alone)


# Secure aggregation and DP -------------------------------------------------------------


def test_secure_aggregation_ran_and_no_node_sent_its_update_in_the_clear(federation: Federation) -> None:
    carried = federation.model.carried
    replies = [c for c in carried if not c.outbound and c.message_type == "train"]

    assert Counter(c.stage for c in replies) == {stage: ROUNDS * 3 for stage in STAGES}
    assert all(c.clear_arrays == 0 for c in replies)  # no node's parameters ever reached the aggregator as such
    masked = [c for c in replies if c.masked]
    assert len(masked) == ROUNDS * 3
    assert {c.stage for c in masked} == {"collect_masked_vectors"}
    assert all(c.error is None for c in carried)


def test_dp_noise_is_added_and_its_epsilon_recorded(federation: Federation) -> None:
    privacy = federation.model.privacy

    assert privacy.noise_multiplier > 0
    assert privacy.clipping_norm > 0
    assert math.isfinite(privacy.epsilon)
    assert privacy.epsilon == epsilon(privacy.noise_multiplier, ROUNDS)
    assert privacy.delta == 1e-5
    assert epsilon(privacy.noise_multiplier, 2 * ROUNDS) > privacy.epsilon  # more rounds spend more


# No record leaves a node, and only participants' ------------------------------------------


def test_no_record_leaves_a_node_and_each_participant_is_audited_as_opened_for_training(
    federation: Federation,
) -> None:
    for node in federation.nodes:
        entries = [e for e in node.audit.entries() if e.access.agent == federation.sponsor.address]
        interactions = Counter(e.access.interaction for e in entries)
        assert set(interactions) == {"study-train"}  # opened here for the run: no release, no delivery
        # every participant's records were opened for the sponsor here, and no outsider's
        assert {e.access.patient for e in entries} == set(federation.participants[node.address])
        assert not set(federation.outsiders[node.address]) & {e.access.patient for e in entries}


def test_only_participants_rows_are_used(federation: Federation) -> None:
    for node, metrics in zip(federation.nodes, federation.model.metrics, strict=True):
        assert metrics.node == node.address
        assert metrics.trained_on + metrics.held_out == len(federation.participants[node.address])
        assert metrics.trained_on == len(_training_rows(federation.split.nodes[federation.nodes.index(node)]))


# The card and the hash on chain -------------------------------------------------------


def test_the_card_holds_no_phi_and_the_chain_vouches_for_the_weights(federation: Federation) -> None:
    model = federation.model
    card = model_card(model)
    text = json.dumps(card)
    patients = [p for node in federation.participants.values() for p in node]

    assert "bc-" not in text
    assert not any(p in text for p in patients)
    assert card["nodes"] == [n.address for n in federation.nodes]
    assert card["rounds"] == ROUNDS
    assert card["privacy"]["epsilon"] == model.privacy.epsilon
    assert [m["node"] for m in card["metrics"]] == card["nodes"]

    registered = register_trained(federation.nodes[1].models, federation.sponsor.name, model)

    assert registered.weights_hash == "0x" + weights_hash(model.weights).hex() == card["weights_hash"]
    used = weights_from_bytes(federation.nodes[1].models.load(registered.model_id))
    assert keccak(weights_bytes(used)) == weights_hash(model.weights)
    assert all(np.array_equal(a, b) for a, b in zip(used, model.weights, strict=True))


# Over HTTP ---------------------------------------------------------------------------


def test_the_sponsors_run_over_http_is_as_good_registers_the_model_and_opens_records_only_at_their_nodes(
    federation: Federation,
) -> None:
    study_id, (first, aggregator, _) = federation.study_id, federation.nodes
    opened_before = _opened_for_training(first)

    # the sponsor's node trains in process; the others, found by their endpoints on chain, over HTTP
    model, registered = aggregator.federated_runs.train(federation.sponsor.name, study_id, rounds=ROUNDS)

    # SecAgg+'s stochastic rounding and the DP noise draw from numpy's global generator: the same model up to noise
    held_out = list(federation.split.outside)
    pooled = _auroc(_alone(_pooled(federation.split)), held_out)
    assert abs(_auroc(list(model.weights), held_out) - pooled) <= 0.02
    assert {(m.node, m.trained_on, m.held_out) for m in model.metrics} == {
        (m.node, m.trained_on, m.held_out) for m in federation.model.metrics
    }
    assert _opened_for_training(first) == 2 * opened_before  # opened again, at the first node, by its own door
    assert all(c.clear_arrays == 0 for c in model.carried if not c.outbound and c.message_type == "train")
    assert registered.weights_hash == "0x" + weights_hash(model.weights).hex()
    assert registered.card["nodes"] == list(model.nodes)


def test_a_run_that_would_spend_more_than_the_studys_epsilon_is_refused_before_any_record_opens(
    federation: Federation,
) -> None:
    first, aggregator, _ = federation.nodes
    opened = _opened_for_training(first)

    with pytest.raises(ValidationError, match=r"above study \d+'s approved budget 25"):
        aggregator.federated_runs.train(federation.sponsor.name, federation.study_id, rounds=20)
    assert _opened_for_training(first) == opened


def test_a_run_by_another_wallet_or_without_rounds_or_noise_is_refused_before_any_record_opens(
    federation: Federation,
) -> None:
    first, aggregator, _ = federation.nodes
    opened = _opened_for_training(first)
    study_id, sponsor = federation.study_id, federation.sponsor.name

    with pytest.raises(
        AccessDenied, match=rf"^{NODE_WALLET} \(0x[0-9a-fA-F]{{40}}\) is not study {study_id}'s sponsor"
    ):
        aggregator.federated_runs.train(NODE_WALLET, study_id)
    with pytest.raises(ValidationError, match="rounds must be from 1 to 100, not 0"):
        aggregator.federated_runs.train(sponsor, study_id, rounds=0)
    with pytest.raises(ValidationError, match="must be positive: no run without DP"):
        aggregator.federated_runs.train(sponsor, study_id, noise_multiplier=0.0)
    assert _opened_for_training(first) == opened


def test_a_message_not_signed_by_the_sponsor_is_401_and_a_malformed_one_400(federation: Federation) -> None:
    study_id = federation.study_id
    message = {"kind": "federated", "task": "breast-cancer", "message": "not base64!"}
    aggregator = federation.nodes[1]
    forged = StudyRequest.new(study_id, federation.nodes[0].address, message).signed(
        aggregator.unlock(NODE_WALLET).account, aggregator.chain_id, aggregator.contracts.identity_registry().address
    )
    malformed = StudyRequest.new(study_id, federation.nodes[0].address, message).signed(
        aggregator.unlock(federation.sponsor.name).account,
        aggregator.chain_id,
        aggregator.contracts.identity_registry().address,
    )

    refused = httpx.post(f"{federation.urls[0]}/exchange/study", json=forged.to_json(), timeout=30)
    bad = httpx.post(f"{federation.urls[0]}/exchange/study", json=malformed.to_json(), timeout=30)

    assert refused.status_code == 401, refused.text
    assert bad.status_code == 400, bad.text
    assert "not a Flower message" in bad.text


def test_a_node_over_http_refuses_a_study_no_board_approved(federation: Federation) -> None:
    study_id = federation.study()
    sites = [federation.remote(0, study_id), federation.remote(2, study_id)]

    with pytest.raises(ValidationError, match="not approved"):
        train(study_id, sites)


def _opened_for_training(node: Node) -> int:
    return sum(1 for e in node.audit.entries() if e.access.interaction == "study-train")


# Refusals -----------------------------------------------------------------------------


def test_a_study_no_board_approved_opens_nothing(federation: Federation) -> None:
    study_id = federation.study()
    task = breast_cancer_task()

    with pytest.raises(AccessDenied, match="not approved"):
        train(study_id, [study_site(n.study_desk, study_id, task) for n in federation.nodes])


def test_a_study_without_participants_is_refused_before_anything_is_sent(federation: Federation) -> None:
    study_id = federation.study()
    federation.nodes[0].studies.approve(federation.board.name, study_id)
    task = breast_cancer_task()

    with pytest.raises(ValidationError, match="fewer than two participants"):
        train(study_id, [study_site(n.study_desk, study_id, task) for n in federation.nodes])


@pytest.mark.parametrize(
    ("sites", "rounds", "noise", "message"),
    [(1, 10, 0.3, "at least two nodes"), (3, 0, 0.3, "rounds"), (3, 101, 0.3, "rounds"), (3, 10, 0.0, "DP")],
)
def test_a_run_without_secure_aggregation_or_dp_is_refused(
    federation: Federation, sites: int, rounds: int, noise: float, message: str
) -> None:
    task = breast_cancer_task()
    chosen = [study_site(n.study_desk, federation.study_id, task) for n in federation.nodes[:sites]]

    with pytest.raises(ValidationError, match=message):
        train(federation.study_id, chosen, rounds=rounds, noise_multiplier=noise)
