"""`careledger serve` as a process: it answers, on SIGTERM anchors what is pending before it exits, and
rides out its chain going away and coming back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from careledger.api import NodeProcess, free_port
from careledger.chain import open_chain
from careledger.cli.serve import _anchor_left_over
from careledger.client import FhirClient
from careledger.config import Home, Settings
from careledger.errors import ChainError
from careledger.identity import WalletStore
from careledger.store import Database, Leadership
from careledger.testdata import scratch_node, synthetic_patients
from tests.chain.conftest import External, until_answers
from tests.cli.conftest import Cli
from tests.tcp_proxy import postgres_behind_proxy

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


# How many lines a served node may log about one outage of its chain: that it went, that it
# started anvil again, that it is back, and one "still unavailable".
_OUTAGE_LINES = 4


def _alice(cli: Cli) -> LocalAccount:
    """Deploy, and register a patient, alice, who signs in to the home's served node."""
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    assert cli("identity", "register", "alice").code == 0
    return WalletStore(cli.home / "keystore", light_kdf=True).unlock("alice", "test passphrase").account


def _serve(cli: Cli) -> NodeProcess:
    return NodeProcess(Home(cli.home), free_port(), passphrase="test passphrase").start()


def _login(server: NodeProcess, account: LocalAccount) -> int:
    """The HTTP status of a SIWE login: 200, or 503 for a chain the node cannot reach."""
    try:
        with FhirClient(server.url, timeout=10) as client:
            client.login(account)
    except ChainError:  # what the client raises for a 503; any other status fails the test
        return 503
    return 200


def _ride_out(
    server: NodeProcess, account: LocalAccount, stop: Callable[[], None], start: Callable[[], None]
) -> set[int]:
    """Stop the node's chain, sign in for 3 s, start it again: sign-ins succeed within 10 s of its return,
    and the node logs a few lines about it, not a traceback per request. The statuses while it was down."""
    assert _login(server, account) == 200
    logged = len(server.log.read_text().splitlines())
    stop()
    down = set()
    for _ in range(6):
        down.add(_login(server, account))
        time.sleep(0.5)
    start()
    back = time.monotonic()
    while _login(server, account) != 200:
        assert time.monotonic() - back < 10, server.log_tail()
        time.sleep(0.5)
    time.sleep(2)  # two more rounds of the background loop, which reads the chain every second
    lines = [line for line in server.log.read_text().splitlines()[logged:] if not _access_line(line)]
    assert len(lines) <= _OUTAGE_LINES, lines
    assert all(" careledger.chain: " in line for line in lines), lines
    return down


def _access_line(line: str) -> bool:
    """Whether `line` is a request's access log line (logger `careledger.access`), which every sign-in writes,
    outage or not: the outage's own lines are the others (a traceback's lines among them)."""
    return " INFO careledger.access: " in line


def _anvil_child(pid: int) -> int:
    """The anvil process that process `pid` runs."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().rsplit(") ", 1)
        except (OSError, ValueError):
            continue  # it exited while we looked
        if name.endswith("(anvil") and int(rest.split()[1]) == pid:
            return int(stat.parent.name)
    raise AssertionError(f"process {pid} runs no anvil")


def test_a_served_node_starts_its_killed_anvil_again(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    alice = _alice(cli)
    server = _serve(cli)
    try:
        killed = _anvil_child(server.pid or 0)
        down = _ride_out(server, alice, lambda: os.kill(killed, signal.SIGKILL), lambda: None)
        assert down <= {200, 503}  # the node starts anvil again at once: most sign-ins never notice
        assert _anvil_child(server.pid or 0) != killed
    finally:
        code = server.stop()
    assert code == 0, server.log_tail()
    log = server.log.read_text()
    assert f"chain unavailable: the managed chain died: anvil (pid {killed}) was killed by SIGKILL" in log
    assert "started anvil again" in log


def test_a_served_node_follows_chain_up_when_it_is_started_again(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    alice = _alice(cli)
    endpoint = cli.home / "chain" / "endpoint.json"
    keepers: list[subprocess.Popen[bytes]] = []

    def chain_up() -> None:
        command = [sys.executable, "-m", "careledger", "--home", str(cli.home), "chain", "up"]
        keepers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not endpoint.is_file():
            assert keepers[-1].poll() is None, "chain up exited"
            assert time.monotonic() < deadline, "chain up did not start"
            time.sleep(0.1)

    def chain_down() -> None:
        keepers[-1].send_signal(signal.SIGINT)
        assert keepers[-1].wait(30) == 0

    chain_up()
    try:
        server = _serve(cli)
        try:
            assert _ride_out(server, alice, chain_down, chain_up) == {503}
        finally:
            code = server.stop()
        assert code == 0, server.log_tail()
    finally:
        for keeper in keepers:
            if keeper.poll() is None:
                keeper.send_signal(signal.SIGINT)
                keeper.wait(30)
    assert "chain unavailable: the chain kept by `careledger chain up`" in server.log.read_text()


def test_a_served_node_reaches_its_rpc_chain_again_when_it_is_back_on_its_port(cli: Cli, tmp_path: Path) -> None:
    external = External(tmp_path / "rpc-state.json")
    external.start()
    try:
        until_answers(lambda: open_chain(external.url).close())
        assert cli("--chain", external.url, "init", "--light-kdf").code == 0
        alice = _alice(cli)
        server = _serve(cli)
        try:
            assert _ride_out(server, alice, external.stop, external.start) == {503}
        finally:
            code = server.stop()
        assert code == 0, server.log_tail()
    finally:
        external.stop()
    assert f"chain unavailable: cannot reach the chain at {external.url}" in server.log.read_text()


@pytest.mark.postgres
def test_a_stop_in_a_database_outage_says_what_is_pending_waits_for_the_next_start(tmp_path: Path) -> None:
    """An outsider stopped `serve` while PostgreSQL was away and was told another process led and anchored: none
    ran, and the record stayed unanchored. The stop now says what it could and could not do."""
    with (
        postgres_behind_proxy() as (proxy, url),
        scratch_node(tmp_path / "home", Settings(chain="memory", db=url, light_kdf=True)) as node,
    ):
        assert _anchor_left_over(node) == "pending commitments and audit heads anchored"
        proxy.cut()
        assert _anchor_left_over(node) == (
            "what is pending is not anchored (the database is not answering): the next start anchors it"
        )
        proxy.restore()
        other_worker = Database(url)
        other = Leadership(other_worker)
        assert other.try_lead()  # another worker of the node holds the lead
        try:
            assert _anchor_left_over(node) == "another process of this node leads, and anchors what is pending"
        finally:
            other.release()
            other_worker.close()
