"""Options several commands share, spelled once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

QuietFlag = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the id, for scripts: ID=$(careledger … -q).")
]

LimitOption = Annotated[int, typer.Option("--limit", help="Show at most this many (0: all).", min=0)]
OffsetOption = Annotated[int, typer.Option("--offset", help="Skip this many first (paging).", min=0)]
