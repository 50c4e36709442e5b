"""A node's rows from FHIR, the weights' serialisation, and a Flower message off the wire: what is refused or left
out, without any node (fast)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from careledger.errors import ValidationError
from careledger.insight.federated import (
    breast_cancer_task,
    is_held_out,
    local_data,
    weights_bytes,
    weights_from_bytes,
    weights_hash,
)
from careledger.insight.federated._dataset import dataset, patient_id, resources, task_named
from careledger.insight.federated._remote import decoded

MALIGNANT_ROW = int(np.flatnonzero(dataset().y == 1)[0])
BENIGN_ROW = int(np.flatnonzero(dataset().y == 0)[0])


def test_each_patient_with_the_panel_is_a_row_labelled_by_her_active_condition() -> None:
    data = local_data(resources(MALIGNANT_ROW) + resources(BENIGN_ROW), breast_cancer_task())

    assert data.patients == (patient_id(MALIGNANT_ROW), patient_id(BENIGN_ROW))
    assert list(data.y) == [1.0, 0.0]
    assert data.x.shape == (2, 30)
    assert np.all(np.abs(data.x) <= 1.0)  # scaled by the task's published ranges


def test_a_missing_feature_gives_no_row_and_nothing_is_imputed() -> None:
    patient, observation, *rest = resources(MALIGNANT_ROW)
    partial = copy.deepcopy(observation)
    partial["component"] = partial["component"][1:]

    data = local_data([patient, partial, *rest, *resources(BENIGN_ROW)], breast_cancer_task())

    assert data.patients == (patient_id(BENIGN_ROW),)


def test_a_resolved_diagnosis_or_another_patients_record_does_not_label_her() -> None:
    patient, observation, condition = resources(MALIGNANT_ROW)
    resolved = copy.deepcopy(condition)
    resolved["clinicalStatus"]["coding"][0]["code"] = "resolved"
    elsewhere = {**copy.deepcopy(condition), "subject": {"reference": "Patient/someone-else"}}

    data = local_data([patient, observation, resolved, elsewhere], breast_cancer_task())

    assert list(data.y) == [0.0]


def test_a_record_without_its_patient_gives_no_row() -> None:
    _, observation, condition = resources(MALIGNANT_ROW)

    assert len(local_data([observation, condition], breast_cancer_task())) == 0


def test_the_held_out_part_is_stable_and_about_its_share() -> None:
    held = [is_held_out(patient_id(row), 0.25) for row in range(569)]

    assert held == [is_held_out(patient_id(row), 0.25) for row in range(569)]
    assert 0.18 < sum(held) / len(held) < 0.32
    assert not any(is_held_out(patient_id(row), 0.0) for row in range(569))


def test_weights_round_trip_exactly_and_their_hash_is_of_the_bytes() -> None:
    weights = (np.array([0.1, -2.5, 1e-17, 3.0]), np.array([0.7]))

    back = weights_from_bytes(weights_bytes(weights))

    assert all(np.array_equal(a, b) for a, b in zip(back, weights, strict=True))
    assert weights_hash(back) == weights_hash(weights)
    assert weights_hash((weights[0], np.array([0.70000001]))) != weights_hash(weights)


@pytest.mark.parametrize("serialised", [b"", b"{}", b'{"arrays": [{"shape": [3], "values": [1.0]}]}', b"\xff"])
def test_anything_but_serialised_weights_is_refused(serialised: bytes) -> None:
    with pytest.raises(ValidationError, match="not serialised model weights"):
        weights_from_bytes(serialised)


@pytest.mark.parametrize("text", ["", "not base64!", "aGVsbG8=", None])
def test_anything_but_a_flower_message_off_the_wire_is_refused(text: object) -> None:
    with pytest.raises(ValidationError, match="not a Flower message"):
        decoded(text)


def test_an_unknown_task_is_refused() -> None:
    assert task_named("breast-cancer") == breast_cancer_task()
    with pytest.raises(ValidationError, match="no federated task"):
        task_named("diabetes")
