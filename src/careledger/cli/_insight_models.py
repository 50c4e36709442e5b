"""`careledger insight models ...`: the federated models this node keeps, each with what the chain says of it now,
and retiring one as its study's sponsor."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from careledger.cli._context import open_node, wallet_of
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.insight import RegisteredModel, parse_model_id

app = typer.Typer(help="Federated models: those kept here and whether a node may use them; retire one.")


@app.callback(invoke_without_command=True)
def models(ctx: typer.Context, json: JsonFlag = False) -> None:
    """List the models kept here: id, study, version, and status (usable, retired, altered, unregistered)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_node(ctx) as node:
        kept = node.models.all()
    if json:
        print_json([model_view(model) for model in kept])
        return
    if not kept:
        console.print("no models kept here")
    for model in kept:
        console.print(_line(model), markup=False)


@app.command()
def retire(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The model's id (0x and 64 hex digits), as the list shows it.")],
    sponsor: Annotated[str, typer.Option("--as", help="The study sponsor's wallet kept here.")],
    json: JsonFlag = False,
) -> None:
    """Retire a model as its study's sponsor: from the next block no node loads it."""
    parse_model_id(model_id)  # a malformed id is refused before a wallet is unlocked
    with open_node(ctx) as node:
        model = node.models.retire(wallet_of(node, sponsor).name, model_id)
    if json:
        print_json(model_view(model))
    else:
        console.print(f"retired {_line(model)}", markup=False)


def model_view(model: RegisteredModel) -> dict[str, Any]:
    """A model as `--json` prints it."""
    return {
        "model_id": model.model_id,
        "study": model.study_id,
        "version": model.version,
        "status": model.status,
        "weights_hash": model.weights_hash,
        "sponsor": model.sponsor,
        "retired_at": model.retired_at or None,
        "card": model.card,
    }


def _line(model: RegisteredModel) -> str:
    card = model.card
    epsilon = card.get("privacy", {}).get("epsilon") if isinstance(card.get("privacy"), dict) else None
    nodes = len(card.get("nodes") or [])
    trained = f"{nodes} node{'' if nodes == 1 else 's'}, {card.get('rounds')} rounds, epsilon {epsilon}"
    return f"{model.model_id}  study {model.study_id} v{model.version}  {model.status}  ({trained})"
