"""What a federated study trains: the task (features by code, each with its published range, and the label), and a
logistic regression whose parameters are plain numpy arrays, so that Flower can carry, clip, mask and noise them.

Features are scaled into [-1, 1] by ranges the task states, never by statistics of one node's data: every node
must scale alike without telling anyone about its patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from careledger.insight._model import Code

Array = NDArray[np.float64]
Params = list[Array]  # [weights (one per feature), bias (one)]


@dataclass(frozen=True, slots=True)
class Feature:
    """One input: a component code of the task's Observation and the range its values are scaled from."""

    code: Code
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Task:
    """What is learnt: from the components `features` of an Observation coded `panel`, whether the patient has a
    Condition coded `label`."""

    name: str
    panel: Code
    features: tuple[Feature, ...]
    label: Code

    def scaled(self, raw: Array) -> Array:
        """Rows of raw values (one column per feature) in [-1, 1] by the task's ranges."""
        low = np.array([f.low for f in self.features])
        high = np.array([f.high for f in self.features])
        return np.asarray(2.0 * (raw - low) / (high - low) - 1.0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Fitting:
    """How a node trains locally each round: full-batch gradient steps on the L2-regularised logistic loss."""

    steps: int = 100
    learning_rate: float = 0.5
    l2: float = 0.01


def initial(task: Task) -> Params:
    """The parameters every run starts from: all zero (the model says 0.5 for everyone)."""
    return [np.zeros(len(task.features)), np.zeros(1)]


def fit(params: Params, x: Array, y: Array, fitting: Fitting = Fitting()) -> Params:
    """`params` moved by `fitting.steps` gradient steps on (x, y); the input is not changed."""
    weights, bias = params[0].astype(np.float64).copy(), float(params[1][0])
    for _ in range(fitting.steps):
        error = _sigmoid(x @ weights + bias) - y
        weights -= fitting.learning_rate * (x.T @ error / len(y) + fitting.l2 * weights)
        bias -= fitting.learning_rate * float(error.mean())
    return [weights, np.array([bias])]


def scores(params: Params, x: Array) -> Array:
    """The model's log-odds for each row (what an AUROC ranks)."""
    return np.asarray(x @ params[0] + params[1][0], dtype=np.float64)


def log_loss(params: Params, x: Array, y: Array) -> float:
    """Mean logistic loss of the model on (x, y)."""
    p = np.clip(_sigmoid(scores(params, x)), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _sigmoid(z: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)
