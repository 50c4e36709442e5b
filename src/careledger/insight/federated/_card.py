"""A trained model's card (what it learnt from, how privately, how well on each node) and its weights' hash.

The card carries no PHI: feature codes and ranges, the training nodes' addresses, rounds, ε and δ, the noise
multiplier and clipping norm, and each node's row counts and AUROC on its held-out rows. The hash is keccak-256 of
the weights' RFC 8785 JSON (shapes and float64 values), so any node can recompute it from the weights it uses and
compare it with the one on chain.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from careledger.crypto import canonical_json, keccak
from careledger.errors import ValidationError
from careledger.insight._models import Models, RegisteredModel
from careledger.insight.federated._model import Array
from careledger.insight.federated._training import TrainedModel

CARD_VERSION = "careledger-model-card/1"


def weights_bytes(weights: Sequence[Array]) -> bytes:
    """The canonical serialisation of `weights`: RFC 8785 JSON of each array's shape and float64 values."""
    arrays = [np.asarray(a, dtype=np.float64) for a in weights]
    return canonical_json(
        {"arrays": [{"shape": list(a.shape), "values": [float(v) for v in a.ravel()]} for a in arrays]}
    )


def weights_from_bytes(serialised: bytes) -> tuple[Array, ...]:
    """The weights `weights_bytes` serialised; `ValidationError` for anything else."""
    try:
        arrays = json.loads(serialised)["arrays"]
        return tuple(np.array(a["values"], dtype=np.float64).reshape(a["shape"]) for a in arrays)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(f"not serialised model weights: {exc}") from None


def weights_hash(weights: Sequence[Array]) -> bytes:
    """keccak-256 of `weights_bytes(weights)`: what the chain records of a model's weights."""
    return keccak(weights_bytes(weights))


def model_card(model: TrainedModel) -> dict[str, Any]:
    """The card of `model` as JSON; registering it adds the model's id and version (the citation)."""
    task = model.task
    return {
        "format": CARD_VERSION,
        "study": model.study_id,
        "task": task.name,
        "model": "logistic regression",
        "features": [{"system": f.code.system, "code": f.code.code, "range": [f.low, f.high]} for f in task.features],
        "label": {"system": task.label.system, "code": task.label.code},
        "nodes": list(model.nodes),
        "rounds": model.rounds,
        "privacy": {
            "mechanism": "Gaussian, central, client-side fixed clipping; SecAgg+ aggregation (Flower)",
            "epsilon": model.privacy.epsilon,
            "delta": model.privacy.delta,
            "noise_multiplier": model.privacy.noise_multiplier,
            "clipping_norm": model.privacy.clipping_norm,
            "accountant": "RDP (dp-accounting)",
        },
        "metrics": [
            {"node": m.node, "trained_on": m.trained_on, "held_out": m.held_out, "auroc": m.auroc}
            for m in model.metrics
        ],
        "pooled": False,  # no node's records were pooled anywhere: each trained on its own
        "weights_hash": "0x" + weights_hash(model.weights).hex(),
    }


def register_trained(models: Models, as_wallet: str, model: TrainedModel) -> RegisteredModel:
    """Record `model` on chain as its study's next version, signed by `as_wallet` (the study's sponsor): the hash
    of its weights and of its card, which then cites the model's id and version."""
    return models.register(as_wallet, model.study_id, weights_bytes(model.weights), model_card(model))
