"""Federated training across nodes: each node trains on its own study participants, and only clipped, masked
updates travel (Flower's SecAgg+ with central differential privacy); the combined model, its card and its weights'
hash are what a study gets."""

from careledger.insight.federated._card import (
    model_card,
    register_trained,
    weights_bytes,
    weights_from_bytes,
    weights_hash,
)
from careledger.insight.federated._client import HELD_OUT, Participant, Site, study_site
from careledger.insight.federated._data import LocalData, is_held_out, local_data
from careledger.insight.federated._dataset import breast_cancer_task, task_named
from careledger.insight.federated._grid import Carried, SiteGrid, node_id
from careledger.insight.federated._model import Feature, Fitting, Task, fit, initial, scores
from careledger.insight.federated._remote import FEDERATED, FederatedDesk, RemoteSite, remote_site
from careledger.insight.federated._runs import FederatedRuns
from careledger.insight.federated._training import (
    CLIPPING_NORM,
    DELTA,
    MAX_ROUNDS,
    NOISE_MULTIPLIER,
    ROUNDS,
    NodeMetrics,
    Privacy,
    TrainedModel,
    epsilon,
    train,
)

__all__ = [
    "CLIPPING_NORM",
    "DELTA",
    "FEDERATED",
    "HELD_OUT",
    "MAX_ROUNDS",
    "NOISE_MULTIPLIER",
    "ROUNDS",
    "Carried",
    "Feature",
    "FederatedDesk",
    "FederatedRuns",
    "Fitting",
    "LocalData",
    "NodeMetrics",
    "Participant",
    "Privacy",
    "RemoteSite",
    "Site",
    "SiteGrid",
    "Task",
    "TrainedModel",
    "breast_cancer_task",
    "epsilon",
    "fit",
    "initial",
    "is_held_out",
    "local_data",
    "model_card",
    "node_id",
    "register_trained",
    "remote_site",
    "scores",
    "study_site",
    "task_named",
    "train",
    "weights_bytes",
    "weights_from_bytes",
    "weights_hash",
]
