"""`careledger verify FILE --rpc URL --anchor ADDRESS`: check an exported file's records against the chain, no node.

Needs no home, no database and no passphrase: the file (a Bundle exported with proofs, or a `$verify`
answer), a JSON-RPC endpoint of the network's chain, and the network's RecordAnchor, pinned by the user
(`--anchor`, or `--deployments` naming a node's deployments file they trust) and never read from the file
(docs/proofs.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.errors import IntegrityError
from careledger.proofs import pinned_anchor, verify_file

# How many failed records the error line names (the rest are in the output above it).
_NAMED = 5


def verify(
    file: Annotated[Path, typer.Argument(help="A Bundle exported with proofs, or a $verify answer (Parameters).")],
    rpc: Annotated[str, typer.Option("--rpc", help="A JSON-RPC URL of the network's chain.")],
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", metavar="ADDRESS", help="The network's RecordAnchor, from a source you trust."),
    ] = None,
    deployments: Annotated[
        Path | None,
        typer.Option(
            "--deployments", metavar="FILE", help="Or a node's deployments/<chain id>.json you trust, naming it."
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Check each record's content, commitment, Merkle path and anchor on chain; exit 7 if any fails.

    Say for each record which batch, block, time and anchorer anchored it, or which step failed and why. The
    contract is the one you pin: a proof naming another fails as `wrong contract`.
    """
    outcomes = verify_file(file, rpc, pinned_anchor(anchor, deployments))
    if json:
        print_json([outcome.to_json() for outcome in outcomes])
    else:
        for outcome in outcomes:
            mark = "[red]✗[/]" if not outcome.ok else "[green]✓[/]" if outcome.anchorer_holds_role else "[yellow]![/]"
            said = outcome.detail if outcome.ok else f"{outcome.problem}: {outcome.detail}"
            console.print(f"{mark} {outcome.record}: ", end="")
            console.print(said, markup=False)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        named = ", ".join(f"{outcome.record} ({outcome.problem})" for outcome in failed[:_NAMED])
        more = f" and {len(failed) - _NAMED} more" if len(failed) > _NAMED else ""
        raise IntegrityError(f"{len(failed)} of {len(outcomes)} records failed: {named}{more}")
    if not json:
        revoked = sum(1 for outcome in outcomes if not outcome.anchorer_holds_role)
        since = f" ({revoked} anchored by an account that no longer holds ANCHORER_ROLE)" if revoked else ""
        console.print(f"all {len(outcomes)} records check out against the chain{since}")
