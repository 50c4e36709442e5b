"""`careledger serve` as a process: it answers, and on SIGTERM anchors what is pending before it exits."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from careledger.api import NodeProcess, free_port
from careledger.config import Home
from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli

pytestmark = pytest.mark.anvil


def test_serve_answers_and_flushes_anchors_on_sigterm(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(synthetic_patients(1, seed=3)[0].patient))
    assert cli("record", "add", str(patient), "--patient", "alice").code == 0
    assert cli("record", "list", "--json").json()[0]["anchored"] is False

    server = NodeProcess(Home(cli.home), free_port(), passphrase="test passphrase").start()
    try:
        assert httpx.get(f"{server.url}/Patient").status_code == 401
    finally:
        code = server.stop()
    assert code == 0, server.log_tail()
    assert "anchored" in server.log.read_text()
    assert cli("record", "list", "--json").json()[0]["anchored"] is True
    assert cli("audit", "verify").code == 0
