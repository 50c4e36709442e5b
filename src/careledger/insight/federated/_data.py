"""A node's training rows, made from the FHIR records the door opened for the study: one row per participant with
the task's Observation (every feature present), labelled by whether she has the task's Condition.

A participant without the Observation, or with a feature missing, gives no row: nothing is imputed. Which rows a
node holds out to measure the model on is decided by a hash of the Patient's id, so a run and its rerun agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from careledger.crypto import keccak
from careledger.insight.federated._model import Array, Task

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LocalData:
    """Scaled feature rows, labels, and whose rows they are (Patient ids, never leaving the node)."""

    x: Array
    y: Array
    patients: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.patients)

    def part(self, held_out: bool, fraction: float) -> LocalData:
        """The rows held out (or not) at `fraction`."""
        keep = [i for i, p in enumerate(self.patients) if is_held_out(p, fraction) == held_out]
        return LocalData(self.x[keep], self.y[keep], tuple(self.patients[i] for i in keep))


def is_held_out(patient_id: str, fraction: float) -> bool:
    """Whether a node keeps this patient's row out of training to measure the model on (about `fraction` are)."""
    return int.from_bytes(keccak(patient_id.encode())[:4], "big") < fraction * 2**32


def local_data(resources: Iterable[Resource], task: Task) -> LocalData:
    """The task's rows among `resources` (the Patients, Observations and Conditions the door opened)."""
    resources = list(resources)
    patients = [str(r["id"]) for r in resources if r.get("resourceType") == "Patient"]
    labelled = {_subject(r) for r in resources if r.get("resourceType") == "Condition" and _active_with(r, task)}
    values: dict[str, list[float]] = {}
    for r in resources:
        if r.get("resourceType") == "Observation" and _coded(r.get("code"), task.panel.system, task.panel.code):
            row = _row(r, task)
            if row is not None:
                values[_subject(r)] = row
    ids = tuple(p for p in patients if p in values)
    raw = np.array([values[p] for p in ids], dtype=np.float64).reshape(len(ids), len(task.features))
    y = np.array([1.0 if p in labelled else 0.0 for p in ids])
    return LocalData(task.scaled(raw), y, ids)


def _row(observation: Resource, task: Task) -> list[float] | None:
    by_code: dict[tuple[str, str], float] = {}
    for component in observation.get("component", []):
        value = component.get("valueQuantity", {}).get("value")
        for coding in component.get("code", {}).get("coding", []):
            if isinstance(value, int | float) and not isinstance(value, bool):
                by_code[(coding.get("system"), coding.get("code"))] = float(value)
    row = [by_code.get((f.code.system, f.code.code)) for f in task.features]
    return None if any(v is None for v in row) else [float(v) for v in row if v is not None]


def _active_with(condition: Resource, task: Task) -> bool:
    status = condition.get("clinicalStatus", {}).get("coding", [{}])[0].get("code", "active")
    return status == "active" and _coded(condition.get("code"), task.label.system, task.label.code)


def _coded(concept: Any, system: str, code: str) -> bool:
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return any(c.get("system") == system and c.get("code") == code for c in codings)


def _subject(resource: Resource) -> str:
    return str(resource.get("subject", {}).get("reference", "")).removeprefix("Patient/")
