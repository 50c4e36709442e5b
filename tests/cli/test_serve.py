"""`careledger serve` as a process: it answers, and on SIGTERM anchors what is pending before it exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from careledger.api import free_port
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

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "careledger", "--home", str(cli.home), "serve", "--port", str(port)],
        env={**os.environ, "CARELEDGER_PASSPHRASE": "test passphrase"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/Patient").status_code == 401
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "anchored" in out
    assert cli("record", "list", "--json").json()[0]["anchored"] is True
    assert cli("audit", "verify").code == 0
