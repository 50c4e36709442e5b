"""Test data for federated training: scikit-learn's shipped Wisconsin breast cancer data (569 fine-needle aspirates,
no download) as FHIR, one patient per row, and the uneven split of it across nodes that tests and `make bench` use.

Each patient has one Observation (the aspirate's panel) with a `component` per feature, and, when the mass was
malignant, a Condition (SNOMED 254837009, malignant neoplasm of breast). The ranges that scale the features are the
dataset's published minimum and maximum of each (its description lists them): a protocol's constants, not any node's
statistics.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer

from careledger.errors import ValidationError
from careledger.insight._model import SNOMED, Code
from careledger.insight.federated._model import Array, Feature, Task

CODE_SYSTEM = "https://careledger.org/fhir/CodeSystem/breast-cancer-features"
PANEL = Code(CODE_SYSTEM, "fna-panel")
MALIGNANT = Code(SNOMED, "254837009")


@dataclass(frozen=True, slots=True)
class Dataset:
    """The raw feature rows (one column per task feature) and whether each mass was malignant (1.0) or not."""

    x: Array
    y: Array


@dataclass(frozen=True, slots=True)
class Split:
    """Which rows each node charts (in node order), and the rows no node has (a test set for everyone)."""

    nodes: tuple[tuple[int, ...], ...]
    outside: tuple[int, ...]


@cache
def dataset() -> Dataset:
    """The 569 rows, malignant as 1."""
    data = load_breast_cancer()
    return Dataset(np.asarray(data.data, dtype=np.float64), (data.target == 0).astype(np.float64))


@cache
def breast_cancer_task() -> Task:
    """Malignancy from the 30 features of the aspirate's cell nuclei."""
    data = load_breast_cancer()
    features = tuple(
        Feature(Code(CODE_SYSTEM, _code(name)), float(low), float(high))
        for name, low, high in zip(data.feature_names, data.data.min(axis=0), data.data.max(axis=0), strict=True)
    )
    return Task("breast-cancer", PANEL, features, MALIGNANT)


def task_named(name: str) -> Task:
    """The task a study's protocol names; `ValidationError` for one this node does not know."""
    tasks = {"breast-cancer": breast_cancer_task}
    if name not in tasks:
        raise ValidationError(f"no federated task {name!r}: known are {', '.join(sorted(tasks))}")
    return tasks[name]()


def split(sizes: tuple[int, ...] = (12, 18, 30), seed: int = 0) -> Split:
    """`sum(sizes)` random rows shared out unevenly (the first node gets `sizes[0]`, …): too few for a node alone to
    learn as well as all of them together; the other rows are charted nowhere, a test set for everyone."""
    rows = [int(r) for r in np.random.default_rng(seed).permutation(len(dataset().y))]
    bounds = np.cumsum((0, *sizes))
    nodes = tuple(tuple(rows[a:b]) for a, b in itertools.pairwise(bounds))
    return Split(nodes, tuple(rows[sum(sizes) :]))


def patient_id(row: int) -> str:
    """The id of row `row`'s Patient (stable, so a node's held-out part is the same in every run)."""
    return f"bc-{row}"


def resources(row: int) -> list[dict[str, Any]]:
    """Row `row` as FHIR: her Patient, the aspirate's Observation, and the Condition if the mass was malignant."""
    data, task = dataset(), breast_cancer_task()
    subject = {"reference": f"Patient/{patient_id(row)}"}
    patient = {"resourceType": "Patient", "id": patient_id(row), "gender": "female", "birthDate": "1970-01-01"}
    observation = {
        "resourceType": "Observation",
        "id": f"{patient_id(row)}-fna",
        "status": "final",
        "category": [_coded("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
        "code": _coded(PANEL.system, PANEL.code),
        "subject": subject,
        "effectiveDateTime": "2024-01-15",
        "component": [
            {"code": _coded(f.code.system, f.code.code), "valueQuantity": {"value": float(value)}}
            for f, value in zip(task.features, data.x[row], strict=True)
        ],
    }
    if not data.y[row]:
        return [patient, observation]
    condition = {
        "resourceType": "Condition",
        "id": f"{patient_id(row)}-dx",
        "clinicalStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "code": _coded(MALIGNANT.system, MALIGNANT.code),
        "subject": subject,
        "onsetDateTime": "2024-01-20",
    }
    return [patient, observation, condition]


def _code(feature_name: str) -> str:
    return feature_name.replace(" ", "-")


def _coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}
