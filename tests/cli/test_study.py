"""`careledger study`: what a wrong input or a missing study does (the happy path is tests/portal/test_studies.py,
where an operator's CLI and a patient's browser share one study)."""

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
