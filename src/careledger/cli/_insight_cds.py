"""`careledger insight cds-client ...`: the EHRs (CDS clients) allowed to call this node's CDS Hooks services, each
known by the `iss` of the JWTs it signs, with its public keys given here or at the one URL they are fetched from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._context import open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.errors import ValidationError
from careledger.fhir import loads_object
from careledger.insight.cds import Client

app = typer.Typer(help="CDS clients (EHRs) allowed to call the CDS Hooks services.", no_args_is_help=True)


@app.command()
def add(
    ctx: typer.Context,
    iss: Annotated[str, typer.Argument(help="The iss of the client's JWTs (usually its URL).")],
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="A file with its JSON Web Key Set (public keys, each with a kid).")
    ] = None,
    jku: Annotated[
        str | None, typer.Option("--jku", help="The https URL its keys are published at (its JWTs' jku must be it).")
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Register a CDS client (or replace its keys): --jwks FILE or --jku URL."""
    if (jwks is None) == (jku is None):
        raise ValidationError("give the client's --jwks FILE or its --jku URL, one of the two")
    keys = None if jwks is None else loads_object(jwks.read_bytes(), what=str(jwks))
    with open_node(ctx) as node:
        client = node.cds.clients.add(iss, jwks=keys, jku=jku)
    if json:
        print_json(_view(client))
    else:
        console.print(f"added {_line(client)}", markup=False)


@app.command("list")
def list_clients(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Every registered CDS client: its iss, and its keys (inline) or where they are fetched from."""
    with open_node(ctx) as node:
        clients = node.cds.clients.list()
    if json:
        print_json([_view(c) for c in clients])
        return
    if not clients:
        console.print("no CDS clients registered")
    for client in clients:
        console.print(_line(client), markup=False)


@app.command()
def remove(ctx: typer.Context, iss: Annotated[str, typer.Argument(help="The client's iss.")]) -> None:
    """Unregister a CDS client: its next request is refused (401)."""
    with open_node(ctx) as node:
        node.cds.clients.remove(iss)
    console.print(f"removed {iss}", markup=False)


def _view(client: Client) -> dict[str, object]:
    keys = None if client.jwks is None else [k.get("kid") for k in client.jwks["keys"]]
    return {"iss": client.iss, "jku": client.jku, "kids": keys}


def _line(client: Client) -> str:
    if client.jku is not None:
        return f"{client.iss}  keys at {client.jku}"
    kids = ", ".join(str(k.get("kid")) for k in (client.jwks or {}).get("keys", []))
    return f"{client.iss}  keys {kids}"
