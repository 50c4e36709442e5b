"""`careledger access ...`: break-glass, the patient's switch for it, and the staff's review of each use."""

from __future__ import annotations

from typing import Annotated

import typer

from careledger.cli._break_glass import app as break_glass_app
from careledger.cli._context import address_of, open_node, wallet_of
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json

app = typer.Typer(help="Emergency (break-glass) access.", no_args_is_help=True)
app.add_typer(break_glass_app, name="break-glass")


@app.command()
def emergency(
    ctx: typer.Context,
    patient: Annotated[str, typer.Option("--patient", help="The patient's wallet name or address.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why: kept in the audit log; only its salted hash goes on chain.")
    ],
    as_wallet: Annotated[str, typer.Option("--as", help="The practitioner's wallet (needs a valid medical licence).")],
    json: JsonFlag = False,
) -> None:
    """Open a break-glass window: ETREAT reads of the patient's records, recorded on chain and flagged in the audit."""
    with open_node(ctx) as node:
        practitioner = wallet_of(node, as_wallet)
        window = node.access.break_glass(practitioner.address, address_of(node, patient), reason)
    if json:
        print_json(
            {
                "practitioner": window.practitioner,
                "patient": window.patient,
                "block": window.block,
                "expires_at": window.expires_at.isoformat(),
            }
        )
    else:
        console.print(
            f"break-glass recorded on chain (block {window.block}); {practitioner.name} may read "
            f"{window.patient}'s records for ETREAT until {window.expires_at:%Y-%m-%d %H:%M} UTC",
            markup=False,
        )
