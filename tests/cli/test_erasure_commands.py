"""`careledger record erase|erasures|hold` end to end on the home's anvil chain: a preview erases nothing, a hold
refuses with its name, `--yes` erases, and `record verify` then says "erased"."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil

PSY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}


def _file(tmp_path: Path, name: str, resource: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(resource))
    return str(path)


def test_preview_hold_erase_verify_and_status(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    patient = synthetic_patients(1, seed=31)[0]
    observation = next(r for r in patient.records if r["resourceType"] == "Observation")
    note = copy.deepcopy(next(r for r in patient.records if r["resourceType"] == "Condition"))
    note["id"], note["meta"] = "psy-1", {"security": [PSY]}
    assert cli("record", "add", _file(tmp_path, "p.json", patient.patient), "--patient", "alice").code == 0
    for name, resource in (("o.json", observation), ("n.json", note)):
        assert cli("record", "add", _file(tmp_path, name, resource)).code == 0
    assert cli("record", "anchor").code == 0
    held = cli("record", "hold", "place", "--patient", "alice", "--record", f"Observation/{observation['id']}",
               "--name", "audit 2026", "--json")  # fmt: skip
    assert held.code == 0, held.err

    preview = cli("record", "erase", "--all", "--patient", "alice")
    assert preview.code == 0, preview.err
    assert f"kept Observation/{observation['id']}: legal hold 'audit 2026'" in preview.out
    assert "nothing was erased" in preview.out
    assert cli("record", "get", "psy-1").code == 0  # the preview erased nothing
    refused = cli("record", "erase", f"Observation/{observation['id']}", "--patient", "alice", "--yes")
    assert (refused.code, "legal hold 'audit 2026'" in refused.err) == (6, True)
    assert cli("record", "erase", "--patient", "alice", "--yes").code == 2  # neither records nor --all

    erased = cli("record", "erase", "Condition/psy-1", "--patient", "alice", "--yes", "--json")
    assert erased.code == 0, erased.err
    assert (erased.json()["erased"], erased.json()["nodes"]) == (["psy-1"], [])
    checks = cli("record", "verify", "psy-1", "--json")
    assert checks.code == 0, checks.err
    assert checks.json()[0]["step"] == "erased"
    for version in ([], ["--version", "1"]):  # every version says what happened to it: erased, not deleted
        gone = cli("record", "get", "psy-1", *version)
        assert (gone.code, "Condition/psy-1 was erased on" in gone.err) == (4, True), gone.err
    (status,) = cli("record", "erasures", "--patient", "alice", "--json").json()
    assert status["request"] == erased.json()["request"]
    assert cli("record", "hold", "lift", str(held.json()[0]["id"])).code == 0
    assert cli("record", "hold", "list", "--json").json() == []
    accounting = cli("audit", "list", "--patient", "alice", "--json").json()
    assert {(e["interaction"], e["outcome"]) for e in accounting} >= {("erase", "allowed"), ("erase", "denied")}
