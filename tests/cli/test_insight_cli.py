"""`careledger insight score` end to end on the home's anvil chain: the PCE worked example from records added with
`record add`, a missing HDL said, an unknown score or patient refused, and `--write` storing a RiskAssessment that
`record get` reads back."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli
from tests.insight import charts

pytestmark = pytest.mark.anvil
PCE = "pce-ascvd-10y"


def _words_in_order(sentence: str, table: str) -> bool:
    """Whether the sentence's words appear in the table in their order, whatever lines Rich wrapped them onto."""
    words = iter(re.sub("[\u2500-\u257f]", " ", table).split())
    return all(word in words for word in sentence.split())


def _add(cli: Cli, tmp_path: Path, name: str, resource: dict[str, Any], *more: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(resource))
    added = cli("record", "add", str(path), *more, "--json")
    assert added.code == 0, added.err
    return str(added.json()["id"])


def test_insight_score_prints_traces_and_writes(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    assert cli("wallet", "new", "bea", "--role", "patient").code == 0
    today = datetime.now(UTC).date()
    alice = _add(cli, tmp_path, "alice", charts.patient(today, mrn="A"), "--patient", "alice")
    sources = {f"Observation/{_add(cli, tmp_path, n, r)}" for n, r in charts.records(alice, today).items()}
    bea = _add(cli, tmp_path, "bea", charts.patient(today, mrn="B"), "--patient", "bea")
    for name, resource in charts.records(bea, today, hdl=False).items():
        _add(cli, tmp_path, f"bea-{name}", resource)

    scored = cli("insight", "score", f"Patient/{alice}", "--score", PCE, "--json")
    assert scored.code == 0, scored.err
    (row,) = scored.json()
    assert (row["score"], row["computed"], row["band"]) == (PCE, True, "low")
    assert round(row["value"], 3) == charts.WHITE_WOMAN_RISK
    sources.add(f"Patient/{alice}")  # age and sex come from her Patient
    assert {i["source"] for i in row["inputs"]} - {None} == sources
    assert row["stored"] is None

    (missing,) = cli("insight", "score", bea, "--score", PCE, "--json").json()
    assert (missing["computed"], missing["missing"]) == (False, ["no HDL cholesterol in the last 5 years"])
    table = cli("insight", "score", bea, "--score", PCE)
    # Rich wraps a cell at the console's width (fixed when the module was first imported), interleaving the
    # columns' lines: a cell's words still come in their order
    assert _words_in_order("cannot compute", table.out)
    assert _words_in_order("no HDL cholesterol in the last 5 years", table.out)

    unknown = cli("insight", "score", alice, "--score", "framingham")
    assert unknown.code == 2
    assert "no score 'framingham'" in unknown.err
    assert cli("insight", "score", "no-such-patient").code == 4
    assert cli("insight", "score", alice, "--as", "bea").code == 4  # another patient: told as an unknown one
    assert cli("insight", "score", bea, "--as", "bea", "--score", PCE, "--json").json()[0]["computed"] is False
    assert cli("insight", "score", f"Observation/{alice}").code == 2

    written = cli("insight", "score", alice, "--score", PCE, "--write", "--json")
    assert written.code == 0, written.err
    stored = written.json()[0]["stored"]
    assert stored.startswith("RiskAssessment/")
    assessment = cli("record", "get", stored).json()
    assert {b["reference"] for b in assessment["basis"]} == sources
    assert assessment["subject"] == {"reference": f"Patient/{alice}"}
