"""`careledger compliance report` end to end on the home's anvil chain."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


def test_report_of_today_as_html_and_json(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("alice", "patient"), ("clinic", "org")):
        assert cli("wallet", "new", name, "--role", role).code == 0
        assert cli("identity", "register", name).code == 0, name
    patient = synthetic_patients(1, seed=12)[0]
    lab = next(
        r for r in patient.records if r.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "laboratory"
    )
    for name, resource, owner in (("p.json", patient.patient, ["--patient", "alice"]), ("lab.json", lab, [])):
        (tmp_path / name).write_text(json.dumps(resource))
        assert cli("record", "add", str(tmp_path / name), *owner).code == 0
    granted = cli("consent", "grant", "--patient", "alice", "--to", "clinic", "--categories", "labs", "--days", "1")
    assert granted.code == 0, granted.err
    assert cli("record", "get", str(lab["id"]), "--as", "clinic").code == 0
    assert cli("record", "get", str(patient.id), "--as", "clinic").code == 5  # general: no consent

    today = datetime.now(UTC).date()
    monkeypatch.chdir(tmp_path)
    written = cli("compliance", "report", "--from", today.isoformat(), "--to", today.isoformat())
    assert written.code == 0, written.err
    page = tmp_path / f"compliance-{today}-{today}.html"
    assert str(page.name) in written.out
    assert stat.S_IMODE(page.stat().st_mode) == 0o600  # it names patients: the operator's alone
    html = page.read_text()
    assert "HIPAA §164.528" in html
    assert "disclosures 1, refused 1" in html

    report = cli("compliance", "report", "--from", today.isoformat(), "--to", today.isoformat(), "--json")
    assert report.code == 0, report.err
    data = report.json()
    (accounting,) = data["accounting"]
    assert ([d["what"] for d in accounting["disclosures"]], accounting["refused"]) == ([{"Observation": 1}], 1)
    assert [c["change"] for c in data["consents"]] == ["granted"]
    assert data["summary"]["by_interaction"]["read"] == {"allowed": 1, "denied": 1}

    tomorrow = (today + timedelta(days=1)).isoformat()
    out = tmp_path / "later.json"
    empty = cli("compliance", "report", "--from", tomorrow, "--to", tomorrow, "--format", "json", "--out", str(out))
    assert empty.code == 0, empty.err
    assert json.loads(out.read_text())["summary"]["entries"] == 0


def test_a_bad_period_or_folder_is_refused_before_the_node_opens(cli: Cli) -> None:
    backwards = cli("compliance", "report", "--from", "2026-06-30", "--to", "2026-06-01")
    assert backwards.code == 2
    assert "ends" in backwards.err
    garbled = cli("compliance", "report", "--from", "last week", "--to", "2026-06-01", "--json")
    assert garbled.code == 2
    assert "--from takes a date" in garbled.err
    assert garbled.out == ""
    june = ("--from", "2026-06-01", "--to", "2026-06-30")
    nowhere = cli("compliance", "report", *june, "--out", "/nonexistent/june.html")
    assert nowhere.code == 2
    assert "cannot write the report in /nonexistent" in nowhere.err
