"""`careledger verify FILE --rpc URL`: check an exported file's records against the chain, with no node.

Needs no home, no database and no passphrase: the file (a Bundle exported with proofs, or a `$verify`
answer) and a JSON-RPC endpoint of the chain its proofs name are enough (docs/proofs.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.errors import IntegrityError
from careledger.proofs import verify_file

# How many failed records the error line names (the rest are in the output above it).
_NAMED = 5


def verify(
    file: Annotated[Path, typer.Argument(help="A Bundle exported with proofs, or a $verify answer (Parameters).")],
    rpc: Annotated[str, typer.Option("--rpc", help="A JSON-RPC URL of the chain the proofs name.")],
    json: JsonFlag = False,
) -> None:
    """Check each record's content, commitment, Merkle path and anchor on chain; exit 7 if any fails.

    Say for each record which batch, block and time anchored it, or which step failed and why.
    """
    outcomes = verify_file(file, rpc)
    if json:
        print_json([outcome.to_json() for outcome in outcomes])
    else:
        for outcome in outcomes:
            mark = "[green]✓[/]" if outcome.ok else "[red]✗[/]"
            said = outcome.detail if outcome.ok else f"{outcome.problem}: {outcome.detail}"
            console.print(f"{mark} {outcome.record}: ", end="")
            console.print(said, markup=False)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        named = ", ".join(f"{outcome.record} ({outcome.problem})" for outcome in failed[:_NAMED])
        more = f" and {len(failed) - _NAMED} more" if len(failed) > _NAMED else ""
        raise IntegrityError(f"{len(failed)} of {len(outcomes)} records failed: {named}{more}")
    if not json:
        console.print(f"all {len(outcomes)} records check out against the chain")
