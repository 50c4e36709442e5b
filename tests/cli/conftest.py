from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from careledger.chain import Chain, open_chain
from careledger.cli import run
from careledger.config import Settings
from careledger.node import Node
from careledger.testdata import PASSPHRASE

# Every contract, in the order `chain deploy` deploys them.
CONTRACTS = [
    "CareToken",
    "IdentityRegistry",
    "RecordAnchor",
    "SupplyChain",
    "Claims",
    "ConsentRegistry",
    "Research",
    "Trials",
    "VisitEscrow",
    "ModelRegistry",
]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def said(self) -> str:
        """The output's words, one space apart: Rich wraps a long line at the console's width, which is fixed when
        the console is first made (whatever COLUMNS says later), so a sentence is read whole from this."""
        return " ".join(self.out.split())


class Cli:
    """Runs `careledger` in this process against one home, capturing its output."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self._capsys = capsys

    def __call__(self, *args: str, home: bool = True) -> Result:
        self._capsys.readouterr()
        code = run([*(["--home", str(self.home)] if home else []), *args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", "test passphrase")
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(tmp_path / "home", capsys)


@dataclass
class Homes:
    """Nodes' homes on one anvil chain, by a short name, with their addresses: what a CLI test of several members
    needs, the nodes themselves closed, so that each command opens its home as a user's would."""

    chain: Chain
    homes: dict[str, Path]
    addresses: dict[str, str]

    def travel(self, seconds: int) -> None:
        """Moves the chain's clock on (past a timelock, say) and mines a block at the new time."""
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@contextmanager
def anvil_homes(tmp: Path, make: Callable[[Settings, Chain], dict[str, Node]]) -> Iterator[Homes]:
    """An anvil chain under `tmp` and the nodes `make` builds on it (the first usually deploying), closed after."""
    with open_chain("anvil", chain_dir=tmp / "chain", keep=True) as chain:
        settings = Settings(chain=chain.url or "", light_kdf=True, anchor_in_background=False)
        nodes = make(settings, chain)
        try:
            yield Homes(
                chain, {n: node.home.path for n, node in nodes.items()}, {n: node.address for n, node in nodes.items()}
            )
        finally:
            for node in nodes.values():
                node.close()


def clis(
    homes: Mapping[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Cli]:
    """A `careledger` runner for each home, by its name, every wallet unlocked by the test networks' passphrase."""
    monkeypatch.setenv("CARELEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("COLUMNS", "200")
    return {name: Cli(home, capsys) for name, home in homes.items()}
