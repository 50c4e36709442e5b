"""`careledger chain up` as a real process: others connect to it; Ctrl-C and a dead child."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import CONTRACTS, Cli

pytestmark = pytest.mark.anvil


def _wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


@pytest.fixture
def chain_up(cli: Cli) -> Iterator[subprocess.Popen[str]]:
    assert cli("init", "--light-kdf").code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "careledger", "--home", str(cli.home), "chain", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    endpoint = cli.home / "chain" / "endpoint.json"
    _wait_for(lambda: endpoint.is_file() or process.poll() is not None)
    assert process.poll() is None, process.communicate()
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _endpoint(home: Path) -> dict[str, object]:
    return dict(json.loads((home / "chain" / "endpoint.json").read_text()))


def test_other_commands_use_the_running_chain_and_ctrl_c_stops_it(cli: Cli, chain_up: subprocess.Popen[str]) -> None:
    endpoint = _endpoint(cli.home)
    assert cli("chain", "deploy").code == 0
    status = cli("chain", "status", "--json").json()
    assert status["url"] == endpoint["url"]
    assert status["block"] == len(CONTRACTS)  # one deployment per contract
    chain_up.send_signal(signal.SIGINT)
    out, err = chain_up.communicate(timeout=30)
    assert chain_up.returncode == 0, err
    assert f"running at {endpoint['url']}" in out
    assert not (cli.home / "chain" / "endpoint.json").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(int(str(endpoint["pid"])), 0)
    # The state was saved: a command started afterwards sees the deployment.
    after = cli("chain", "status", "--json").json()
    assert after["block"] == len(CONTRACTS)
    assert [c["name"] for c in after["contracts"]] == CONTRACTS


def test_a_killed_anvil_is_reported_in_one_line(cli: Cli, chain_up: subprocess.Popen[str]) -> None:
    anvil_pid = int(str(_endpoint(cli.home)["pid"]))
    os.kill(anvil_pid, signal.SIGKILL)
    _out, err = chain_up.communicate(timeout=30)
    assert chain_up.returncode == 9
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: the managed chain died: anvil (pid {anvil_pid}) was killed by SIGKILL")


def test_anvil_dies_with_a_killed_node(cli: Cli, chain_up: subprocess.Popen[str]) -> None:
    anvil_pid = int(str(_endpoint(cli.home)["pid"]))
    chain_up.kill()
    chain_up.wait()

    def anvil_gone() -> bool:
        try:
            os.kill(anvil_pid, 0)
        except ProcessLookupError:
            return True
        # A zombie until the init process reaps it counts as gone.
        return Path(f"/proc/{anvil_pid}/status").read_text().find("State:\tZ") >= 0

    _wait_for(anvil_gone, timeout=15)
    # The stale record does not stop the next command.
    assert cli("chain", "status").code == 0


def test_detached_the_chain_serves_other_commands_until_chain_down(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    up = cli("chain", "up", "--detach")
    assert up.code == 0, up.err
    try:
        endpoint = _endpoint(cli.home)
        again = cli("chain", "up", "--detach")
        assert again.code == 6
        assert "already kept running" in again.err
        assert cli("chain", "deploy").code == 0
        assert cli("chain", "status", "--json").json()["url"] == endpoint["url"]
    finally:
        down = cli("chain", "down")
    assert down.code == 0, down.err
    assert "chain stopped" in down.out
    with pytest.raises(ProcessLookupError):
        os.kill(int(str(endpoint["pid"])), 0)
    assert "no chain is kept running" in cli("chain", "down").out
    assert cli("chain", "status", "--json").json()["block"] == len(CONTRACTS)  # its state stayed in the home
