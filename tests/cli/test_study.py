"""`careledger study`: what a wrong input or a missing study does, and a full study topped up so that another
patient joins (the rest of the happy path is tests/portal/test_studies.py, where an operator's CLI and a
patient's browser share one study)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli


@pytest.fixture
def home(cli: Cli) -> Cli:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0
    return cli


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["create", "--as", "lab", "--protocol", "/nonexistent/protocol.pdf", "--categories", "labs",
          "--data-from", "2020-01-01", "--data-to", "2021-01-01", "--reward", "1", "--budget", "5"],
         2, "cannot read the protocol"),
        (["create", "--as", "lab", "--protocol", "{protocol}", "--categories", "labs",
          "--data-from", "01/02/2020", "--data-to", "2021-01-01", "--reward", "1", "--budget", "5"],
         2, "not a date"),
        (["create", "--as", "lab", "--protocol", "{protocol}", "--categories", "hair-colour",
          "--data-from", "2020-01-01", "--data-to", "2021-01-01", "--reward", "1", "--budget", "5"],
         2, "hair-colour"),
        (["query", "1", "--as", "lab", "--kind", "median"], 2, "one of count, mean, histogram"),
        (["query", "1", "--as", "lab", "--kind", "mean", "--code", "x|y", "--bounds", "7"], 2, "low,high"),
        (["query", "1", "--as", "lab", "--epsilon", "0"], 2, "epsilon"),
        (["show", "1"], 4, "Research is not deployed"),
    ],
)  # fmt: skip
def test_a_wrong_input_is_one_line_and_its_exit_code(
    home: Cli, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("a protocol")
    done = home("study", *[a.replace("{protocol}", str(protocol)) for a in args])
    assert done.code == code, done.err
    assert says in done.err
    assert len(done.err.strip().splitlines()) == 1


@pytest.mark.anvil
def test_a_sponsor_tops_up_a_full_study_and_another_patient_joins(cli: Cli, tmp_path: Path) -> None:
    assert cli("init", "--light-kdf").code == 0
    assert cli("chain", "deploy").code == 0
    for name, role in (("lab", "researcher"), ("irb", "org"), ("alice", "patient"), ("bob", "patient")):
        assert cli("wallet", "new", name, "--role", role).code == 0
    for name in ("node", "lab", "irb", "alice", "bob"):
        assert cli("identity", "register", name).code == 0, name
    attested = cli("identity", "attest", "node", "irb", "--type", "research-ethics-approval", "--days", "30")
    assert attested.code == 0, attested.err
    assert cli("token", "mint", "lab", "25").code == 0
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("a protocol")
    created = cli(
        "study", "create", "--as", "lab", "--protocol", str(protocol), "--categories", "labs",
        "--data-from", "2020-01-01", "--data-to", "2021-01-01", "--reward", "10", "--budget", "10", "-q",
    )  # fmt: skip
    assert (created.code, created.out) == (0, "1\n"), created.err
    assert cli("study", "approve", "1", "--as", "irb").code == 0
    assert cli("study", "join", "1", "--patient", "alice").code == 0

    full = cli("study", "join", "1", "--patient", "bob")
    assert full.code == 6, full.err
    assert "study 1's escrow cannot pay another participant" in full.err
    assert "its sponsor can top it up" in full.err

    for amount, code, says in [
        ("ten", 2, "not an amount: 'ten'"),
        ("0", 2, "a top-up adds more than nothing"),
        ("0.0000000000000000001", 2, "finer than the token's 18 decimals"),
        ("20", 6, "lab holds 15 CARE, less than the 20 to add: nothing was done"),
    ]:
        refused = cli("study", "top-up", "1", "--as", "lab", "--amount", amount)
        assert (refused.code, len(refused.err.strip().splitlines())) == (code, 1), refused.err
        assert says in refused.err
    assert cli("study", "top-up", "9", "--as", "lab", "--amount", "1").code == 4

    topped = cli("study", "top-up", "1", "--as", "lab", "--amount", "10", "--json")
    assert topped.code == 0, topped.err
    view = topped.json()
    assert (view["budget"], view["escrow"], view["unpaid"], view["places"]) == ("20", "20", 1, 1)
    assert cli("study", "join", "1", "--patient", "bob").code == 0
    quiet = cli("study", "top-up", "1", "--as", "lab", "--amount", "2.5", "-q")
    assert (quiet.code, quiet.out) == (0, "1\n")
    shown = cli("study", "show", "1", "--json").json()
    assert (shown["escrow"], shown["participants"], shown["places"]) == ("22.5", 2, 0)
    said = cli("study", "top-up", "1", "--as", "lab", "--amount", "2.5")
    assert said.out.startswith("topped up 1:")
    # Rich wraps at the console's width, which another module's run in this process may have fixed at 80
    assert "(25 of 25 left), 2 taking part, room for 0 more" in " ".join(said.out.split())
