"""A throwaway node with its contracts deployed: what tests, benchmarks and examples start from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from careledger.config import Home, Settings
from careledger.homes import init_home
from careledger.node import Node

PASSPHRASE = "pw"  # noqa: S105 - every wallet of a throwaway node shares it


@contextmanager
def scratch_node(home_dir: Path, settings: Settings) -> Iterator[Node]:
    """A new home in `home_dir` and its node, contracts deployed; wallets' passphrase is `PASSPHRASE`."""
    home = Home(home_dir)
    init_home(home, settings, PASSPHRASE)
    with Node(home, settings, lambda _wallet: PASSPHRASE) as node:
        node.deploy()
        yield node
