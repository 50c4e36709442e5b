"""`careledger token ...`: CareToken balances, transfers and minting."""

from __future__ import annotations

from typing import Annotated

import typer

from careledger.claims import amount_text, from_units, to_units
from careledger.cli._context import address_of, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json
from careledger.config import NODE_WALLET

app = typer.Typer(help="CareToken (CARE): balances, transfers, minting.", no_args_is_help=True)

AmountArgument = Annotated[str, typer.Argument(help="In whole tokens, e.g. 12.5.")]
ToArgument = Annotated[str, typer.Argument(help="A wallet name or an address.")]


@app.command()
def balance(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="A wallet name or an address [default: the node].")] = NODE_WALLET,
    json: JsonFlag = False,
) -> None:
    """A balance of CARE."""
    with open_node(ctx) as node:
        money = node.payments.currency()
        address = address_of(node, who)
        units = node.payments.balance(address)
        symbol = money.symbol
    if json:
        print_json({"address": address, "balance": amount_text(units, money.decimals), "symbol": symbol})
    else:
        console.print(f"{address}: {from_units(units, money.decimals):,f} {symbol}", markup=False)


@app.command()
def transfer(
    ctx: typer.Context,
    to: ToArgument,
    amount: AmountArgument,
    as_wallet: Annotated[str, typer.Option("--as", help="The wallet that pays.")] = NODE_WALLET,
) -> None:
    """Send CARE to another account."""
    with open_node(ctx) as node:
        address = address_of(node, to)
        node.payments.transfer(as_wallet, address, to_units(amount, node.payments.currency().decimals))
    console.print(f"sent {amount} CARE to {address}", markup=False)


@app.command()
def mint(
    ctx: typer.Context,
    to: ToArgument,
    amount: AmountArgument,
    as_wallet: Annotated[str, typer.Option("--as", help="A wallet with the minter role.")] = NODE_WALLET,
) -> None:
    """Mint CARE (rewards, research funding); the node wallet, which deployed the token, is a minter."""
    with open_node(ctx) as node:
        address = address_of(node, to)
        node.payments.mint(as_wallet, address, to_units(amount, node.payments.currency().decimals))
    console.print(f"minted {amount} CARE to {address}", markup=False)
