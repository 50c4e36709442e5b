"""`careledger device ...` end to end: register and bind on the home's anvil chain, then the simulator's
readings through a real broker into a running `serve`, and an unbinding that stops them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.api import NodeProcess, free_port
from careledger.config import Home
from careledger.testdata import synthetic_patients
from tests.cli.conftest import Cli
from tests.iot.broker import SHARED

pytestmark = pytest.mark.anvil


@pytest.fixture
def home(cli: Cli, tmp_path: Path) -> Iterator[Cli]:
    """A node whose readings come from the shared broker, one per Observation; alice and her Patient record.
    The chain is kept running (`chain up --detach`), so commands run beside `serve`, as an operator's would."""
    assert cli("init", "--light-kdf").code == 0
    with (cli.home / "config.toml").open("a") as config:
        config.write(f'mqtt_broker = "{SHARED}"\nreading_summary_seconds = 0\n')
    assert cli("chain", "up", "--detach").code == 0
    try:
        _set_up(cli, tmp_path)
        yield cli
    finally:
        assert cli("chain", "down").code == 0


def _set_up(cli: Cli, tmp_path: Path) -> None:
    assert cli("chain", "deploy").code == 0
    assert cli("wallet", "new", "alice", "--role", "patient").code == 0
    assert cli("identity", "register", "alice").code == 0
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(synthetic_patients(1, seed=8)[0].patient))
    assert cli("record", "add", str(patient), "--patient", "alice").code == 0


def _observations(cli: Cli) -> int:
    return len(cli("record", "list", "--type", "Observation", "--limit", "0", "--json").json())


def test_register_bind_simulate_and_unbind(home: Cli) -> None:
    registered = home("device", "register", "watch", "--kind", "smartwatch", "--json")
    assert registered.code == 0, registered.err
    watch = registered.json()
    assert (watch["name"], watch["kind"], watch["patient"]) == ("watch", "smartwatch", None)
    device_record = json.loads(home("record", "get", watch["device_record"]).out)
    assert device_record["resourceType"] == "Device"
    assert device_record["identifier"][0]["value"].endswith(watch["address"])

    bound = home("device", "bind", "watch", "--patient", "alice", "--days", "30", "--json")
    assert bound.code == 0, bound.err
    assert bound.json()["grant_id"].startswith("0x")
    assert home("device", "list", "--json").json()[0]["patient"] == bound.json()["patient"]

    server = NodeProcess(Home(home.home), free_port(), passphrase="test passphrase").start()
    try:
        time.sleep(1.0)  # subscribed
        sent = home("device", "simulate", "--devices", "1", "--rate", "2", "--duration", "20", "--backfill", "--json")
        assert sent.code == 0, sent.err
        assert sent.json()["readings"] == 60  # two heart rates and one saturation a second
        deadline = time.monotonic() + 60
        while _observations(home) < 60:
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.5)

        unbound = home("device", "unbind", "watch", "--json")
        assert unbound.code == 0, unbound.err
        assert unbound.json()["revoked"] == bound.json()["grant_id"]
        assert home("device", "simulate", "--rate", "2", "--duration", "5", "--backfill").code == 2  # none bound
    finally:
        assert server.stop() == 0, server.log_tail()
    assert _observations(home) == 60
    assert home("audit", "verify").code == 0


def test_refusals_say_what_to_do(home: Cli) -> None:
    assert home("device", "bind", "nothing", "--patient", "alice").code == 4
    assert home("device", "register", "band").code == 0
    both = home("device", "bind", "band", "--patient", "alice", "--consent", "0x01")
    assert both.code == 2
    assert "--patient" in both.err
    assert home("device", "bind", "band", "--consent", "nonsense").code == 2
    assert home("device", "simulate").code == 2
