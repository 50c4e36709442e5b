"""`careledger identity ...`: register wallets on chain, look actors up, attest credentials."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from careledger.cli._context import address_of, open_node
from careledger.cli._identity_view import actor_view, credential_json, render_view
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.errors import AccessDenied, Conflict, NotFound

app = typer.Typer(help="On-chain identities: register, show, attest credentials.", no_args_is_help=True)

_DAY = 86_400


@app.command()
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The wallet to register (it signs its own registration).")],
    endpoint: Annotated[str, typer.Option("--endpoint", help="The actor's node URL (organisations).")] = "",
    json: JsonFlag = False,
) -> None:
    """Register a wallet in the IdentityRegistry with its role and encryption key."""
    with open_node(ctx) as node:
        wallet = node.wallets.get(name)
        if node.identity_registry().actor(wallet.address) is not None:
            raise Conflict(f"wallet {name} ({wallet.address}) is already registered")
        with progress.status("registering…"):
            node.identity_registry(as_wallet=name).register(wallet.role, wallet.encryption_key, endpoint)
            view = actor_view(node.identity_registry(), wallet.address)
    if json:
        print_json(view)
    else:
        console.print(f"registered {name} ({wallet.address}) as {wallet.role.label}")


@app.command()
def show(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="A wallet name or an address.")],
    json: JsonFlag = False,
) -> None:
    """An actor's registration and credentials."""
    with open_node(ctx) as node:
        address = address_of(node, who)
        view = actor_view(node.identity_registry(), address)
    if view is None:
        raise NotFound(f"{who} ({address}) is not registered; register it with `careledger identity register`")
    if json:
        print_json(view)
    else:
        render_view(view)


@app.command()
def attest(
    ctx: typer.Context,
    issuer: Annotated[str, typer.Argument(help="The issuing wallet (holds ISSUER_ROLE).")],
    subject: Annotated[str, typer.Argument(help="A wallet name or an address.")],
    credential_type: Annotated[str, typer.Option("--type", help="Credential type, e.g. medical-licence.")],
    days: Annotated[int, typer.Option("--days", help="Days until it expires.", min=1)],
    irrevocable: Annotated[bool, typer.Option("--irrevocable", help="The issuer cannot revoke it.")] = False,
    json: JsonFlag = False,
) -> None:
    """Attest a credential (e.g. a licensing board attesting a practitioner)."""
    with open_node(ctx) as node:
        issuer_address = node.wallets.get(issuer).address
        if not node.identity_registry().is_role_holder("ISSUER_ROLE", issuer_address):
            raise AccessDenied(f"wallet {issuer} ({issuer_address}) does not hold ISSUER_ROLE in the IdentityRegistry")
        registry = node.identity_registry(as_wallet=issuer)
        address = address_of(node, subject)
        now = int(node.chain.w3.eth.get_block("latest")["timestamp"])
        with progress.status("attesting…"):
            credential = registry.attest(address, credential_type, now + days * _DAY, revocable=not irrevocable)
    if json:
        print_json({"subject": address, **credential_json(credential, now)})
    else:
        expires = time.strftime("%Y-%m-%d", time.gmtime(credential.expires_at))
        console.print(f"credential {credential.credential_id}: {credential_type} for {subject}, valid until {expires}")
