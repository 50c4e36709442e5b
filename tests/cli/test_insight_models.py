"""`careledger insight models`: the models kept here with their status on chain, and retiring one as its sponsor."""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.config import Home, load_settings
from careledger.services import open_operations
from tests.cli.conftest import Cli

PASSPHRASE = "test passphrase"  # the `cli` fixture's


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["retire", "0x12", "--as", "node"], 2, "'0x12' is not a model id"),
        (["retire", "0x" + "ab" * 32, "--as", "node"], 4, "ModelRegistry is not deployed"),
        (["--json"], 4, "ModelRegistry is not deployed"),
    ],
)
def test_a_wrong_input_is_one_line_and_its_exit_code(cli: Cli, args: list[str], code: int, says: str) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0
    done = cli("insight", "models", *args)
    assert done.code == code, done.err
    assert says in done.err
    assert len(done.err.strip().splitlines()) == 1


@pytest.mark.anvil
def test_the_sponsor_lists_and_retires_a_model_and_no_one_else_may(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("lab", "researcher"), ("irb", "org")):
        assert cli("wallet", "new", name, "--role", role).code == 0
    for name in ("node", "lab", "irb"):
        assert cli("identity", "register", name).code == 0, name
    assert cli("identity", "attest", "node", "irb", "--type", "research-ethics-approval", "--days", "30").code == 0
    assert cli("token", "mint", "lab", "10").code == 0
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("a protocol")
    created = cli(
        "study", "create", "--as", "lab", "--protocol", str(protocol), "--categories", "labs",
        "--data-from", "2020-01-01", "--data-to", "2021-01-01", "--reward", "10", "--budget", "10", "-q",
    )  # fmt: skip
    assert created.code == 0, created.err
    assert cli("study", "approve", "1", "--as", "irb").code == 0
    assert cli("insight", "models").out == "no models kept here\n"
    home = Home(cli.home)
    with open_operations(home, load_settings(home), lambda _wallet: PASSPHRASE) as node:
        card = {"nodes": [node.address], "rounds": 2, "privacy": {"epsilon": 0.5}, "features": ["x"], "metrics": [1]}
        model = node.models.register("lab", 1, b"the weights", card)

    listed = cli("insight", "models", "--json")
    assert listed.code == 0, listed.err
    ((shown),) = listed.json()
    assert (shown["model_id"], shown["study"], shown["version"], shown["status"]) == (model.model_id, 1, 1, "usable")
    assert shown["card"]["model_id"] == model.model_id
    listed = " ".join(cli("insight", "models").out.split())  # the table wraps at the terminal's width
    assert f"{model.model_id} study 1 v1 usable (1 node, 2 rounds, epsilon 0.5)" in listed

    refused = cli("insight", "models", "retire", model.model_id, "--as", "irb")
    assert refused.code == 5
    assert "only study 1's sponsor retires its models" in refused.err
    retired = cli("insight", "models", "retire", model.model_id, "--as", "lab", "--json")
    assert retired.code == 0, retired.err
    assert retired.json()["status"] == "retired"
    assert cli("insight", "models", "--json").json()[0]["status"] == "retired"
    again = cli("insight", "models", "retire", model.model_id, "--as", "lab")
    assert (again.code, "retired already" in again.err) == (6, True)
