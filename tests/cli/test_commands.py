"""The CLI in process: init, chain status/deploy, and its errors."""

from __future__ import annotations

import importlib
import json
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from careledger import __version__
from careledger.cli._app import GROUPS
from tests.cli.conftest import CONTRACTS, Cli


def test_version(cli: Cli) -> None:
    result = cli("--version", home=False)
    assert (result.code, result.out.strip()) == (0, f"careledger {__version__}")


def test_help_shows_defaults_and_no_type_after_flags(cli: Cli) -> None:
    shown = cli("--help", home=False)
    assert shown.code == 0
    assert "[default: ~/.careledger]" in shown.out
    assert "<bool>" not in shown.out
    assert "testdata" in shown.out  # every group is listed
    grant = cli("consent", "grant", "--help", home=False).out
    assert "[default: 30]" in grant
    assert "<bool>" not in grant


def test_testdata_writes_a_bundle_ndjson_and_examples(cli: Cli, tmp_path: Path) -> None:
    made = cli("testdata", "patients", "3", "--seed", "4", "--out", str(tmp_path / "data"), "--json", home=False)
    assert made.code == 0, made.err
    body = made.json()
    bundle = json.loads((tmp_path / "data" / "bundle.json").read_text())
    assert bundle["type"] == "collection"
    assert len(bundle["entry"]) == body["resources"]
    patients = (tmp_path / "data" / "ndjson" / "Patient.ndjson").read_text().splitlines()
    assert len(patients) == 3
    ndjson_lines = sum(len(Path(p).read_text().splitlines()) for p in body["ndjson"].values())
    assert ndjson_lines == body["resources"]
    example = json.loads((tmp_path / "data" / "examples" / "patient.json").read_text())
    assert example == json.loads(patients[0])
    encounters = [
        json.loads((tmp_path / "data" / "examples" / f"{n}.json").read_text())
        for n in ("encounter", "earlier-encounter")
    ]
    assert encounters[0]["period"]["start"] >= encounters[1]["period"]["start"]
    again = cli("testdata", "patients", "3", "--seed", "4", "--out", str(tmp_path / "again"), home=False)
    assert again.code == 0
    assert (tmp_path / "again" / "bundle.json").read_bytes() == (tmp_path / "data" / "bundle.json").read_bytes()


def test_a_read_only_command_loads_neither_web3_nor_the_chain(cli: Cli) -> None:
    """What keeps start-up short (measured in `make bench`): `record list` never touches the chain."""
    assert cli("init", "--light-kdf").code == 0
    probe = (
        "import sys; from careledger.cli import run; "
        f"code = run(['--home', {str(cli.home)!r}, 'record', 'list', '--json']); "
        "heavy = sorted(m for m in ('web3', 'eth_tester', 'fastapi', 'siwe', 'alembic', 'vyper') if m in sys.modules); "
        "print(code, heavy, file=sys.stderr)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60)
    assert ran.stderr.strip().splitlines()[-1] == "0 []", ran.stderr
    assert json.loads(ran.stdout) == []
    assert not (cli.home / "chain" / "anvil-state.json").exists()  # no anvil was started for it


def test_an_unreachable_node_has_its_own_exit_code(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    result = cli("--node", "http://127.0.0.1:9", "record", "list", "--type", "Patient")
    assert result.code == 13
    assert "cannot reach the node at http://127.0.0.1:9" in result.err


def test_a_busy_port_has_its_own_exit_code(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("--chain", "memory", "serve", "--port", str(port))
    assert result.code == 12
    assert f"port {port} on 127.0.0.1 is in use" in result.err
    assert "serving" not in result.out


def test_init_creates_a_home(cli: Cli) -> None:
    result = cli("init", "--light-kdf", "--json")
    assert result.code == 0, result.err
    body = result.json()
    assert body["home"] == str(cli.home)
    assert body["node_address"].startswith("0x")
    assert stat.S_IMODE((cli.home / "config.toml").stat().st_mode) == 0o600  # as docs/deployment.md says
    assert stat.S_IMODE((cli.home / "blobs").stat().st_mode) == 0o700
    assert stat.S_IMODE((cli.home / "keystore" / "node.json").stat().st_mode) == 0o600
    assert (cli.home / "careledger.db").is_file()
    assert "light_kdf = true" in (cli.home / "config.toml").read_text()


def test_init_twice_is_a_conflict_in_one_line(cli: Cli) -> None:
    assert cli("init", "--light-kdf").code == 0
    before = (cli.home / "keystore" / "node.json").read_bytes()
    result = cli("init", "--light-kdf")
    assert result.code == 6
    assert result.err.count("\n") == 1
    assert "is already a CareLedger home" in result.err
    assert (cli.home / "keystore" / "node.json").read_bytes() == before


def test_commands_need_an_initialised_home(cli: Cli) -> None:
    result = cli("chain", "status")
    assert result.code == 3
    assert result.err.strip() == f"error: no CareLedger home at {cli.home}; run `careledger init` (or pass --home)"
    assert "Traceback" not in result.err


def test_bad_config_is_one_line(cli: Cli) -> None:
    cli("init", "--light-kdf")
    (cli.home / "config.toml").write_text('chain = "memory"\nflavour = "vanilla"\n')
    result = cli("chain", "status")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert "flavour" in result.err


def test_unknown_flag_is_a_usage_error(cli: Cli) -> None:
    assert cli("chain", "status", "--colour").code == 2


def test_memory_chain_deploy_and_status(cli: Cli) -> None:
    cli("--chain", "memory", "init", "--light-kdf")
    deployed = cli("chain", "deploy", "--json")
    assert deployed.code == 0, deployed.err
    assert [(r["name"], r["deployed_now"]) for r in deployed.json()] == [(name, True) for name in CONTRACTS]
    status = cli("chain", "status", "--json").json()
    assert status["backend"] == "memory"
    # The memory chain lives only as long as one command: status runs on a fresh one.
    assert status["contracts"] == []


@pytest.mark.anvil
def test_deploy_twice_deploys_once_and_survives_restarts(cli: Cli) -> None:
    cli("init", "--light-kdf")
    first = cli("chain", "deploy", "--json")
    assert first.code == 0, first.err
    assert [r["deployed_now"] for r in first.json()] == [True] * len(CONTRACTS)
    second = cli("chain", "deploy", "--json").json()
    assert [r["deployed_now"] for r in second] == [False] * len(CONTRACTS)
    addresses = {r["name"]: r["address"] for r in second}
    assert addresses == {r["name"]: r["address"] for r in first.json()}
    status = cli("chain", "status", "--json").json()
    assert status["backend"] == "anvil"
    assert status["chain_id"] == 31337
    assert status["block"] == len(CONTRACTS)
    assert 0 < status["node_balance_wei"] < 10_000 * 10**18  # anvil funded the node wallet; deploying cost gas
    assert status["contracts"] == [
        {"name": name, "address": addresses[name], "block": block} for block, name in enumerate(CONTRACTS, 1)
    ]
    text = cli("chain", "deploy")
    assert text.out.splitlines() == [f"{name}: unchanged at {addresses[name]}" for name in CONTRACTS]


def test_wrong_passphrase_is_access_denied(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("--chain", "memory", "init", "--light-kdf")
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "not it")
    result = cli("chain", "deploy")
    assert result.code == 5
    assert "wrong passphrase" in result.err


def test_locked_wallet_without_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("--chain", "memory", "init", "--light-kdf")
    monkeypatch.delenv("CARELEDGER_PASSPHRASE")
    result = cli("chain", "deploy")
    assert result.code == 5
    assert "set CARELEDGER_PASSPHRASE" in result.err
    assert cli("chain", "status").code == 0  # reading needs no passphrase


def test_chain_up_refuses_a_non_anvil_chain(cli: Cli) -> None:
    cli("--chain", "memory", "init", "--light-kdf")
    result = cli("chain", "up")
    assert result.code == 2
    assert "runs the managed anvil chain" in result.err


def test_a_damaged_database_is_one_clear_line(cli: Cli) -> None:
    cli("--chain", "memory", "init", "--light-kdf")
    (cli.home / "careledger.db").write_bytes(b"this is not sqlite" * 100)
    result = cli("chain", "status")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert "cannot open the database" in result.err
    assert "file is not a database" in result.err


def test_unexpected_errors_are_one_line_unless_debugging(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from careledger.node import Node

    cli("--chain", "memory", "init", "--light-kdf")

    def broken(_node: Node) -> None:  # fault injection: stands for any bug
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(Node, "status", broken)
    result = cli("chain", "status")
    assert result.code == 70
    assert result.err == "error: unexpected RuntimeError: something broke (set CARELEDGER_DEBUG=1 for the traceback)\n"
    monkeypatch.setenv("CARELEDGER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something broke"):
        cli("chain", "status")


def test_docs_cli_md_lists_every_command_of_every_group() -> None:
    """docs/cli.md's command table names each command `careledger GROUP --help` lists (outsider38 found no
    `schedule`, `visit` or `message` there)."""
    rows = [
        line for line in (Path(__file__).parents[2] / "docs" / "cli.md").read_text().splitlines() if line[:3] == "| `"
    ]
    named = set(re.findall(r"`([a-z][a-z-]* [a-z][a-z-]*)(?=[ `])", "\n".join(rows)))
    commands = {
        f"{group} {name}"
        for group, module in GROUPS.items()
        for name in getattr(get_command(importlib.import_module(module).app), "commands", {})
    }
    assert sorted(commands - named) == []


def test_a_patient_named_for_a_remote_add_is_refused_not_ignored(cli: Cli, tmp_path: Path) -> None:
    """Through --node the API files a Patient by the did:pkh identifier it holds: a wallet named with --patient
    used to be dropped without a word, and her record went to a new custodial identity."""
    assert cli("init", "--light-kdf").code == 0
    patient = tmp_path / "patient.json"
    patient.write_text('{"resourceType": "Patient"}')
    result = cli("--node", "http://127.0.0.1:9", "record", "add", str(patient), "--patient", "keiko")
    assert result.code == 2, result.err
    assert "--patient is not taken with --node" in result.err
    assert "did:pkh:eip155:<chain id>:<her address>" in result.err
