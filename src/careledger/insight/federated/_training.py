"""Train a task's model across nodes without moving a record: Flower's default workflow over FedAvg, its fit
rounds by SecAgg+ (the aggregator sees only the sum of masked, quantised updates), each update clipped on its node
and Gaussian noise added to the aggregate (central DP with client-side fixed clipping), ε from an RDP accountant.

```
train ─► each node opens its participants' rows (the door, HRESCH, audited per patient; too few ─► refused)
      ─► DefaultWorkflow(fit=SecAggPlusWorkflow) with DP(FedAvg) over the SiteGrid, `rounds` times
      ─► one evaluate message per node: AUROC on its held-out rows ─► TrainedModel (weights, metrics, ε)
```
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from dp_accounting import dp_event
from dp_accounting.rdp import RdpAccountant
from flwr.app import Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import EvaluateIns, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.compat.common import recorddict_compat as compat
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from careledger.errors import ValidationError
from careledger.insight.federated._client import Participant
from careledger.insight.federated._grid import Carried, SiteGrid
from careledger.insight.federated._model import Array, Task, initial

DELTA = 1e-5
MAX_ROUNDS = 100
# Defaults that keep three small nodes within 0.02 AUROC of pooling (tests/insight/federated) at ε ≈ 21, a weak
# guarantee: with few nodes the central noise is large beside their average (at 1.0, ε ≈ 9, one run in five fell
# below the best node alone), so few rounds of full local fits spend least.
ROUNDS = 3
NOISE_MULTIPLIER = 0.5
CLIPPING_NORM = 1.0
_ONE_RUN = threading.Lock()


@dataclass(frozen=True, slots=True)
class Privacy:
    """The run's differential privacy: the Gaussian noise multiplier and the clipping norm of each node's update,
    and the (ε, δ) an RDP accountant gives for that many rounds."""

    noise_multiplier: float
    clipping_norm: float
    epsilon: float
    delta: float


@dataclass(frozen=True, slots=True)
class NodeMetrics:
    """What a node reported of the trained model: rows it trained on and held out, and the AUROC on the latter
    (None when its held-out rows have one class only)."""

    node: str
    trained_on: int
    held_out: int
    auroc: float | None


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """The combined model of a study's run and what a card says of it."""

    study_id: int
    task: Task
    weights: tuple[Array, ...]
    rounds: int
    nodes: tuple[str, ...]
    metrics: tuple[NodeMetrics, ...]
    privacy: Privacy
    carried: tuple[Carried, ...]  # every message of the run, both ways: what the aggregator was sent


def epsilon(noise_multiplier: float, rounds: int, delta: float = DELTA) -> float:
    """ε after `rounds` Gaussian mechanisms of `noise_multiplier` (every node takes part in every round)."""
    accountant = RdpAccountant()
    accountant.compose(dp_event.GaussianDpEvent(noise_multiplier), rounds)
    return float(accountant.get_epsilon(delta))


def train(
    study_id: int,
    sites: Sequence[Participant],
    *,
    rounds: int = ROUNDS,
    noise_multiplier: float = NOISE_MULTIPLIER,
    clipping_norm: float = CLIPPING_NORM,
) -> TrainedModel:
    """Train the sites' common task on their participants; `ValidationError` for fewer than two nodes, rounds
    outside 1..100, no noise, or nodes with different tasks."""
    _check(sites, rounds, noise_multiplier, clipping_norm)
    task = sites[0].task
    for site in sites:
        site.prepare()  # every node opens its rows (or refuses) before anything is sent
    grid = SiteGrid(sites)
    run_id = random.getrandbits(63)
    grid.set_run(Run.create_empty(run_id))
    context = LegacyContext(
        Context(run_id, SUPERLINK_NODE_ID, {}, RecordDict(), {}),
        config=ServerConfig(num_rounds=rounds),
        strategy=_strategy(task, len(sites), noise_multiplier, clipping_norm),
    )
    workflow = DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=0.67))
    with _ONE_RUN:  # Flower numbers a process's messages by one process-wide task identity, as its start_grid does
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, run_id, SUPERLINK_NODE_ID
        workflow(grid, context)
    failures = [c.error for c in grid.carried if c.error]
    if failures:
        raise ValidationError("the run failed at a node: " + "; ".join(failures))
    record = context.state.array_records[MAIN_PARAMS_RECORD]
    arrays = parameters_to_ndarrays(compat.arrayrecord_to_parameters(record, keep_input=True))
    weights = tuple(np.asarray(a, dtype=np.float64) for a in arrays)
    privacy = Privacy(noise_multiplier, clipping_norm, epsilon(noise_multiplier, rounds), DELTA)
    metrics = _evaluate(grid, weights)
    nodes = tuple(s.address for s in sites)
    return TrainedModel(study_id, task, weights, rounds, nodes, metrics, privacy, tuple(grid.carried))


def _check(sites: Sequence[Participant], rounds: int, noise_multiplier: float, clipping_norm: float) -> None:
    if len(sites) < 2:
        raise ValidationError("federated training needs at least two nodes (secure aggregation sums several)")
    if len({site.address for site in sites}) != len(sites):
        raise ValidationError("a node takes part in a run once")
    if not 1 <= rounds <= MAX_ROUNDS:
        raise ValidationError(f"rounds must be from 1 to {MAX_ROUNDS}")
    if not noise_multiplier > 0 or not clipping_norm > 0:
        raise ValidationError("the noise multiplier and the clipping norm must be positive: no run without DP")
    if len({site.task for site in sites}) != 1:
        raise ValidationError("every node of a run trains the same task")


def _strategy(task: Task, nodes: int, noise_multiplier: float, clipping_norm: float) -> Strategy:
    """FedAvg over every node each round, wrapped in central DP with the nodes clipping their own updates."""
    fedavg = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,  # measured once at the end, per node (below), not averaged each round
        min_fit_clients=nodes,
        min_available_clients=nodes,
        initial_parameters=ndarrays_to_parameters(initial(task)),
    )
    return DifferentialPrivacyClientSideFixedClipping(fedavg, noise_multiplier, clipping_norm, nodes)


def _evaluate(grid: SiteGrid, weights: tuple[Array, ...]) -> tuple[NodeMetrics, ...]:
    """Each node's numbers for the final model, asked by one evaluate message per node."""
    content = compat.evaluateins_to_recorddict(EvaluateIns(ndarrays_to_parameters(list(weights)), {}), True)
    asked = [Message(content, node, MessageType.EVALUATE, group_id="final") for node in grid.get_node_ids()]
    metrics = []
    for reply in grid.send_and_receive(asked):
        node = grid.address_of(reply.metadata.src_node_id)
        if reply.has_error():
            raise ValidationError(f"node {node} could not measure the model: {reply.error.reason}")
        res = compat.recorddict_to_evaluateres(reply.content)
        auroc = res.metrics.get("auroc")
        trained_on = int(res.metrics["trained_on"])
        metrics.append(NodeMetrics(node, trained_on, res.num_examples, None if auroc is None else float(auroc)))
    return tuple(sorted(metrics, key=lambda m: grid.addresses.index(m.node)))
