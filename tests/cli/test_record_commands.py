"""`careledger record ...` end to end on the home's anvil chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from careledger.testdata import collection_bundle, synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


@pytest.fixture
def home(cli: Cli, tmp_path: Path) -> Cli:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    return cli


def _file(tmp_path: Path, name: str, resource: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(resource))
    return str(path)


def test_add_list_get_history_anchor_verify(home: Cli, tmp_path: Path) -> None:
    patient = synthetic_patients(1, seed=12)[0]
    observation = next(r for r in patient.records if r["resourceType"] == "Observation")
    added = home("record", "add", _file(tmp_path, "p.json", patient.patient), "--patient", "alice", "--json")
    assert added.code == 0, added.err
    assert added.json()["resourceType"] == "Patient"
    assert home("record", "add", _file(tmp_path, "o.json", observation), "--json").json()["version"] == 1
    amended = {**observation, "status": "amended"}
    assert home("record", "add", _file(tmp_path, "o2.json", amended), "--json").json()["version"] == 2

    listed = home("record", "list", "--patient", "alice", "--json").json()
    assert [(r["resourceType"], r["version"], r["anchored"]) for r in listed] == [
        ("Patient", 1, False),
        ("Observation", 2, False),
    ]
    assert home("record", "get", observation["id"]).json()["status"] == "amended"
    assert home("record", "get", observation["id"], "--version", "1").json()["status"] == "final"
    assert [v["version"] for v in home("record", "history", observation["id"], "--json").json()] == [2, 1]

    anchored = home("record", "anchor", "--json").json()
    assert sum(b["records"] for b in anchored) == 3
    assert home("record", "anchor").out.strip() == "nothing to anchor"
    checks = home("record", "verify", observation["id"], "--json")
    assert checks.code == 0, checks.err
    assert all(c["ok"] for c in checks.json())
    assert home("record", "verify", observation["id"], "--version", "1").code == 0
    # The Type/id that `record add` prints works everywhere; one of another type is not found.
    assert home("record", "verify", f"Observation/{observation['id']}").code == 0
    assert home("record", "get", f"Observation/{observation['id']}").json()["id"] == observation["id"]
    wrong = home("record", "get", f"Patient/{observation['id']}")
    assert wrong.code == 4
    assert "is a Observation, not a Patient" in wrong.err
    assert home("record", "list", "-q").out.split() == [
        f"Patient/{listed[0]['id']}",
        f"Observation/{observation['id']}",
    ]
    first = home("record", "list", "--limit", "1", "-q")
    assert first.out.split() == [f"Patient/{listed[0]['id']}"]
    assert "more with --offset 1" in first.err
    assert home("record", "list", "--limit", "1", "--offset", "1", "-q").out.split() == [
        f"Observation/{observation['id']}"
    ]
    # Each command reached her records through the node's guarded repository: each is in her accounting.
    accounting = home("audit", "list", "--patient", "alice", "--json").json()
    by_node = {e["interaction"] for e in accounting if e["agent_name"] == "node" and e["outcome"] == "allowed"}
    assert {"create", "update", "read", "vread", "history-instance", "search-type"} <= by_node


def test_tampered_blob_fails_verify_at_the_content_id(home: Cli, tmp_path: Path) -> None:
    patient = synthetic_patients(1, seed=13)[0]
    home("record", "add", _file(tmp_path, "p.json", patient.patient), "--patient", "alice")
    home("record", "anchor")
    cid = home("record", "list", "--json").json()[0]["cid"]
    (blob,) = (home.home / "blobs").rglob(cid)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = home("record", "verify", patient.id)
    assert result.code == 7
    assert "✗ content id" in result.out
    assert result.err.strip() == f"error: verification of {patient.id} failed at: content id"


def test_bad_input_is_one_line_and_stores_nothing(home: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Observation", "status": "final"}')
    result = home("record", "add", str(bad), "--patient", "alice")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "Observation.code: Field required" in result.err
    assert home("record", "add", str(tmp_path / "missing.json")).code == 2
    assert home("record", "list", "--json").json() == []
    assert home("record", "get", "nope").code == 4
    assert home("record", "list", "--patient", "0x" + "5a" * 20, "--json").json() == []
    assert home("record", "list", "--patient", "carol").code == 4


def test_delete_keeps_history(home: Cli, tmp_path: Path) -> None:
    patient = synthetic_patients(1, seed=14)[0]
    home("record", "add", _file(tmp_path, "p.json", patient.patient), "--patient", "alice")
    deleted = home("record", "delete", patient.id, "--json")
    assert deleted.json()["deleted"] is True
    assert home("record", "get", patient.id).code == 4
    assert home("record", "get", patient.id, "--version", "1").json()["id"] == patient.id


def test_export_writes_a_bundle_the_patient_decrypted(home: Cli, tmp_path: Path) -> None:
    patient = synthetic_patients(1, seed=15)[0]
    home("record", "add", _file(tmp_path, "p.json", patient.patient), "--patient", "alice")
    for index, record in enumerate(patient.records[:5]):
        assert home("record", "add", _file(tmp_path, f"r{index}.json", record)).code == 0
    out = tmp_path / "export" / "alice.json"
    result = home("record", "export", "--patient", "alice", "--out", str(out), "--json")
    assert result.code == 0, result.err
    assert result.json() == {"out": str(out), "records": 6}
    bundle = json.loads(out.read_text())
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert {e["resource"]["id"] for e in bundle["entry"]} == {patient.id} | {r["id"] for r in patient.records[:5]}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    exports = [e for e in home("audit", "list", "--patient", "alice", "--json").json() if e["interaction"] == "export"]
    assert [(e["agent_name"], e["purpose"], len(e["entities"])) for e in exports] == [("alice", "PATRQT", 6)]
    assert home("record", "export", "--patient", "nobody", "--out", str(out)).code == 4


def test_import_of_patients_without_wallets_then_resume(home: Cli, tmp_path: Path) -> None:
    patients = synthetic_patients(2, seed=16)
    source = tmp_path / "bundle.json"
    bundle = collection_bundle(patients)
    bundle["entry"].append({"resource": {"resourceType": "Observation", "status": "final"}})
    source.write_text(json.dumps(bundle))
    first = home("record", "import", str(source), "--json")
    assert first.code == 2
    total = sum(len(p.resources) for p in patients)
    assert first.json()["imported"] == total
    assert [r["position"] for r in first.json()["refused"]] == [total + 1]
    assert "1 resources were refused" in first.err
    assert len(list((home.home / "custodial").glob("*.key"))) == 2  # a custodial identity each
    again = home("record", "import", str(source))
    assert again.code == 0
    assert f"already done {total + 1}" in again.out
    assert len(list((home.home / "custodial").glob("*.key"))) == 2
