"""`careledger insight train`: what it refuses in one line, and numbers out of range refused as click refuses a flag
(the run itself, over HTTP to served nodes, and a wallet that is not the study's sponsor, are tested in
tests/insight/federated/test_training.py through the same service)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--task", "nope"], 2, "no federated task 'nope'"),
        ([], 4, "is not deployed"),  # the network is asked first: a fresh memory chain has none
    ],
)
def test_a_run_that_cannot_start_is_refused_in_one_line(cli: Cli, args: list[str], code: int, says: str) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0

    done = cli("insight", "train", "1", "--as", "node", *args)

    assert done.code == code, done.err
    assert says in done.err
    assert len(done.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rounds", "0"], "Invalid value for '--rounds': 0 is not in the range 1<=x<=100"),
        (["--rounds", "101"], "101 is not in the range 1<=x<=100"),
        (["--noise-multiplier", "0"], "Invalid value for '--noise-multiplier': must be above 0, not 0"),
        (["--noise-multiplier", "nan"], "must be above 0, not nan"),
        (["--clipping-norm", "-1"], "Invalid value for '--clipping-norm': must be above 0, not -1"),
    ],
)
def test_a_number_out_of_range_is_refused_as_its_flag_before_the_node_opens(
    cli: Cli, args: list[str], says: str
) -> None:
    done = cli("insight", "train", "1", "--as", "node", *args)  # no home: refused before it is looked for

    assert done.code == 2, done.err
    assert says in " ".join(line.strip("│ ") for line in done.err.splitlines())
    assert "unexpected" not in done.err
