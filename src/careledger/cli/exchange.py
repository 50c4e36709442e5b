"""`careledger exchange ...`: fetch a patient's records from the node that holds them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careledger.cli._context import address_of, open_node, wallet_of
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.config import NODE_WALLET
from careledger.consent import Purpose, parse_categories
from careledger.exchange import FetchResult

app = typer.Typer(help="Node-to-node exchange: fetch a patient's records under consent.", no_args_is_help=True)


def result_json(result: FetchResult) -> dict[str, Any]:
    """A fetch's result as JSON."""
    return {
        "custodian": result.custodian,
        "patient": result.patient,
        "stored": [f"{s.resource_type}/{s.record_id}" for s in result.stored],
        "provenance": result.provenance_id,
        "withheld": list(result.withheld),
    }


def _print(result: FetchResult) -> None:
    withheld = f"; withheld (no consent): {', '.join(result.withheld)}" if result.withheld else ""
    console.print(
        f"{len(result.stored)} records from {result.custodian} verified against the chain and stored"
        f"{f' (Provenance/{result.provenance_id})' if result.provenance_id else ''}{withheld}",
        markup=False,
    )


@app.command()
def fetch(
    ctx: typer.Context,
    custodian: Annotated[str, typer.Option("--from", help="The custodian node's wallet name or address.")],
    patient: Annotated[str, typer.Option("--patient", help="The patient's wallet name or address.")],
    categories: Annotated[str, typer.Option("--categories", help="Comma-separated: labs,vitals,… or all.")],
    purpose: Annotated[str, typer.Option("--purpose", help="HL7 PurposeOfUse.")] = "TREAT",
    as_wallet: Annotated[str, typer.Option("--as", help="The wallet that asks [default: the node's].")] = NODE_WALLET,
    json: JsonFlag = False,
) -> None:
    """Ask the custodian for a patient's records; verify every one against the chain, then keep them."""
    with open_node(ctx) as node:
        wallet = node.unlock(wallet_of(node, as_wallet).name)
        with progress.status("fetching…"):
            result = node.requester.fetch(
                wallet.account,
                wallet.encryption_key(),
                address_of(node, custodian),
                address_of(node, patient),
                parse_categories(categories),
                Purpose.parse(purpose),
            )
    if json:
        print_json(result_json(result))
    else:
        _print(result)


@app.command()
def pull(
    ctx: typer.Context,
    patient: Annotated[str, typer.Option("--patient", help="The patient's wallet (held on this node).")],
    custodians: Annotated[
        list[str] | None, typer.Option("--from", help="A custodian [default: every node in the registry].")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """The patient's own agent: pull all of the patient's records from every node that holds them."""
    with open_node(ctx) as node:
        wallet = node.unlock(wallet_of(node, patient).name)
        chosen = [address_of(node, c) for c in custodians] if custodians else None
        with progress.status("pulling…"):
            results = node.requester.pull(wallet.account, wallet.encryption_key(), chosen)
    if json:
        print_json([result_json(r) for r in results])
    else:
        for result in results:
            _print(result)
