"""`careledger insight train`: what it refuses in one line (the run itself, over HTTP to served nodes, is tested in
tests/insight/federated/test_training.py through the same service)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--task", "nope"], 2, "no federated task 'nope'"),
        (["--rounds", "0"], 4, "is not deployed"),  # the network is asked first: a fresh memory chain has none
    ],
)
def test_a_run_that_cannot_start_is_refused_in_one_line(cli: Cli, args: list[str], code: int, says: str) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0

    done = cli("insight", "train", "1", "--as", "node", *args)

    assert done.code == code, done.err
    assert says in done.err
    assert len(done.err.strip().splitlines()) == 1
