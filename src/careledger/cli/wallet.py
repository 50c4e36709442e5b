"""`careledger wallet ...`: the keys this node holds and acts with."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import typer
from rich.table import Table

from careledger.cli._context import open_node, passphrase_source, state, wallet_name
from careledger.cli._identity_view import actor_view, render_view
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.errors import NotFound
from careledger.identity import Role, Suite, Wallet, WalletStore, did_pkh

app = typer.Typer(help="Create, list and inspect this node's wallets.", no_args_is_help=True)


def _store(ctx: typer.Context) -> WalletStore:
    cli = state(ctx)
    cli.home.require()
    return WalletStore(cli.home.keystore_dir, light_kdf=cli.settings().light_kdf)


def wallet_json(wallet: Wallet) -> dict[str, Any]:
    """A wallet's public facts as JSON (never its key)."""
    return {
        "name": wallet.name,
        "address": wallet.address,
        "role": wallet.role.label,
        "suite": wallet.encryption_key.suite.label,
        "encryption_key": "0x" + wallet.encryption_key.to_bytes().hex(),
        "key_version": wallet.key_version,
    }


@app.command()
def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Wallet name: lower-case letters, digits, '-', '_'.")],
    role: Annotated[str, typer.Option("--role", help="org, practitioner, patient, device, insurer, …")],
    suite: Annotated[str, typer.Option("--suite", help="Encryption suite: x25519 or mlkem768-x25519.")] = "x25519",
    json: JsonFlag = False,
) -> None:
    """Create a wallet: a secp256k1 key in a keystore v3 file and its encryption key."""
    store = _store(ctx)
    chosen_role, chosen_suite = Role.parse(role), Suite.parse(suite)
    passphrase = passphrase_source(confirm=True)(name)
    with progress.status("creating the wallet…"):
        wallet = store.create(name, chosen_role, passphrase, chosen_suite)
    if json:
        print_json(wallet_json(wallet))
    else:
        suite_label = wallet.encryption_key.suite.label
        console.print(f"wallet {wallet.name}: {wallet.role.label} {wallet.address} ({suite_label})")


@app.command("list")
def list_wallets(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Every wallet in this home."""
    wallets = _store(ctx).all()
    if json:
        print_json([wallet_json(w) for w in wallets])
        return
    table = Table("name", "role", "address", "suite", "key version")
    for wallet in wallets:
        table.add_row(
            wallet.name,
            wallet.role.label,
            wallet.address,
            wallet.encryption_key.suite.label,
            str(wallet.key_version),
        )
    console.print(table)


@app.command()
def show(ctx: typer.Context, name: str, json: JsonFlag = False) -> None:
    """Address, DID, encryption key and on-chain registration of a wallet."""
    wallet = _store(ctx).get(name)
    with open_node(ctx) as node:
        body = wallet_json(wallet)
        body["did"] = did_pkh(node.chain_id, wallet.address)
        try:
            profile = node.identity.profile(wallet.address)
        except NotFound as exc:  # the registry is not deployed on this chain
            body["registration"] = {"error": str(exc)}
        else:
            body["registration"] = actor_view(profile, partial(wallet_name, node)) if profile else None
    if json:
        print_json(body)
    else:
        render_view(body)
