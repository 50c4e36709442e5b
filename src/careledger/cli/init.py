"""`careledger init`: create a node's home."""

from __future__ import annotations

from typing import Annotated

import typer

from careledger.cli._context import passphrase_source, state
from careledger.cli._output import console, print_json, progress
from careledger.config import NODE_WALLET
from careledger.homes import init_home


def init(
    ctx: typer.Context,
    light_kdf: Annotated[
        bool, typer.Option("--light-kdf", help="Fast, weak key derivation: test and demo homes only.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create the home: config.toml, the node wallet (keystore v3) and the database."""
    cli = state(ctx)
    home = cli.home
    home.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings = cli.settings(light_kdf=light_kdf or None)
    passphrase = passphrase_source(confirm=True)(NODE_WALLET)
    with progress.status("creating the node wallet…"):
        wallet = init_home(home, settings, passphrase)
    if json:
        print_json({"home": str(home.path), "node_address": wallet.address, "chain": settings.chain})
        return
    console.print(f"initialised {home.path}")
    console.print(f"node wallet {wallet.address} (keystore {wallet.path})")
    console.print("next: `careledger chain deploy`, or `careledger chain up` to keep a chain running")
