"""`careledger client ...`: the apps (SMART App Launch) and systems (Backend Services) that get tokens here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._context import address_of, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.errors import ValidationError
from careledger.fhir import loads_object
from careledger.identity import Client

app = typer.Typer(help="SMART apps and backend systems registered with this node.", no_args_is_help=True)


@app.command()
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What users and the audit log call it.")],
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="An app's redirect URI (repeat for several).")
    ] = None,
    launch_uri: Annotated[
        str | None, typer.Option("--launch-uri", help="An app's launch URI: staff may launch it from a chart.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="A system's JSON Web Key Set of public keys (RS384 or ES384).")
    ] = None,
    acts_as: Annotated[str | None, typer.Option("--as", help="The wallet or address a system acts for.")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="The most it may be granted, e.g. system/*.rs (repeat).")
    ] = None,
    resource_server: Annotated[
        bool, typer.Option("--resource-server", help="A system that may introspect any token (not only its own).")
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Register an app (--redirect-uri, and --launch-uri if it may be launched from a chart) or a backend
    system (--jwks and --as, and --resource-server if it may introspect any token); prints its client id."""
    if (jwks is None) == (not redirect_uri):
        raise ValidationError("give an app's --redirect-uri, or a system's --jwks and --as")
    if jwks is not None and launch_uri is not None:
        raise ValidationError("--launch-uri is an app's: a system is never launched from a chart")
    if jwks is None and resource_server:
        raise ValidationError("--resource-server is a system's: an app introspects only its own tokens")
    with open_node(ctx) as node:
        if jwks is not None:
            if acts_as is None:
                raise ValidationError("a system acts for one of this node's actors: --as WALLET")
            keys = loads_object(jwks.read_bytes())
            client = node.clients.register_system(
                name, address_of(node, acts_as), keys, scope or ["system/*.rs"], resource_server=resource_server
            )
        else:
            client = node.clients.register_app(name, redirect_uri or [], scope or [], launch_uri=launch_uri)
    _show(client, json)


@app.command("list")
def list_clients(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Every registered app and system."""
    with open_node(ctx) as node:
        clients = node.clients.list()
    if json:
        print_json([_as_json(c) for c in clients])
        return
    for client in clients:
        console.print(f"{client.client_id}  {client.kind:6}  {client.name}  {' '.join(client.scopes)}", markup=False)


@app.command()
def remove(ctx: typer.Context, client_id: Annotated[str, typer.Argument(help="The client id.")]) -> None:
    """Unregister a client: no new tokens, its refresh tokens revoked (other access tokens expire within 15 minutes)."""
    with open_node(ctx) as node:
        node.clients.remove(client_id)
    console.print(f"removed {client_id}", markup=False)


def _as_json(client: Client) -> dict[str, object]:
    return {
        "client_id": client.client_id,
        "kind": client.kind,
        "name": client.name,
        "acts_as": client.acts_as,
        "redirect_uris": list(client.redirect_uris),
        "launch_uri": client.launch_uri,
        "resource_server": client.resource_server,
        "scopes": list(client.scopes),
    }


def _show(client: Client, json: bool) -> None:
    if json:
        print_json(_as_json(client))
    else:
        console.print(f"{client.kind} {client.name!r} registered: client id {client.client_id}", markup=False)
