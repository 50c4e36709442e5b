from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from careledger.cli import run

# Every contract, in the order `chain deploy` deploys them.
CONTRACTS = [
    "CareToken",
    "IdentityRegistry",
    "RecordAnchor",
    "SupplyChain",
    "Claims",
    "ConsentRegistry",
    "Research",
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
