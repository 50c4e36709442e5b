"""`careledger insight train`: what it refuses before any node opens a record (the run itself is tested in
tests/insight/federated/test_training.py, on three nodes)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--task", "nope"], "no federated task 'nope'"),
        ([], "at least two nodes"),  # this node alone: secure aggregation sums several
        (["--with", "{home}"], "a node takes part in a run once"),
    ],
)
def test_a_run_that_cannot_be_secure_is_refused_in_one_line(cli: Cli, args: list[str], says: str) -> None:
    assert cli("--chain", "memory", "init", "--light-kdf").code == 0

    done = cli("insight", "train", "1", "--as", "node", *[a.format(home=cli.home) for a in args])

    assert done.code == 2, done.err
    assert says in done.err
    assert len(done.err.strip().splitlines()) == 1
