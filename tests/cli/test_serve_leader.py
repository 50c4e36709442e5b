"""`serve --workers N`: the parent anchors what its stopped workers left only as the node's leader."""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.cli.serve import _anchor_left_over
from careledger.config import Settings
from careledger.store import Database, Leadership
from careledger.testdata import scratch_node, synthetic_patients
from tests.conftest import PG_URL, _postgres_schema

pytestmark = pytest.mark.postgres


def test_the_parent_anchors_only_while_no_other_process_leads(tmp_path: Path) -> None:
    schema = _postgres_schema()
    url = f"{PG_URL}?options=-csearch_path%3D{next(schema)}"
    with scratch_node(tmp_path / "home", Settings(chain="memory", db=url, light_kdf=True)) as node:
        patient = synthetic_patients(1)[0]
        node._records.write(patient.patient, patient_address=node.address)
        assert node.anchorer.pending() == 1
        other = Database(url)
        try:
            worker = Leadership(other)  # a worker of the node still running, or another host's
            assert worker.try_lead()
            assert _anchor_left_over(node) == "another process of this node leads, and anchors what is pending"
            assert node.anchorer.pending() == 1  # left to the leader: two anchorings of one batch would race
            worker.release()
        finally:
            other.close()
        assert _anchor_left_over(node) == "pending commitments and audit heads anchored"
        assert node.anchorer.pending() == 0
        assert not node.leadership.held_anywhere()  # and the lead let go at once, for the next serve's workers
    next(schema, None)
