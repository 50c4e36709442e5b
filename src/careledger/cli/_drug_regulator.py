"""`careledger drug regulator ...`: who admits manufacturers to the supply chain (SupplyChain's REGULATOR_ROLE).

SupplyChain's admin appoints and removes regulators: the node that deployed the contracts, until it bootstraps the
council; from then on the council decides (`careledger governance propose appoint-regulator ADDRESS`), and these
commands say so (exit 5). Listing reads the chain and works on any node.
"""

from __future__ import annotations

from typing import Annotated

import typer

from careledger.cli._context import address_of, open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json

app = typer.Typer(
    help="Supply chain regulators (who admit manufacturers): list them; appoint or remove one as the admin.",
    no_args_is_help=True,
)

RegulatorArgument = Annotated[
    str, typer.Argument(metavar="ADDRESS", help="The regulator node's address (or a wallet name here).")
]


@app.command()
def appoint(ctx: typer.Context, regulator: RegulatorArgument, json: JsonFlag = False) -> None:
    """Appoint a regulator, this node as SupplyChain's admin (its deployer, before the council is bootstrapped)."""
    with open_node(ctx) as node:
        who = address_of(node, regulator)
        now = node.governance.appoint_regulator(who)
    _print_change(who, True, now, json)


@app.command()
def remove(ctx: typer.Context, regulator: RegulatorArgument, json: JsonFlag = False) -> None:
    """End a regulator's appointment, as `appoint` makes one; the manufacturers it admitted stay admitted."""
    with open_node(ctx) as node:
        who = address_of(node, regulator)
        now = node.governance.remove_regulator(who)
    _print_change(who, False, now, json)


@app.command("list")
def list_(ctx: typer.Context, json: JsonFlag = False) -> None:
    """The regulators SupplyChain holds now, in the order they were first appointed."""
    with open_node(ctx) as node:
        regulators = node.governance.regulators()
    if json:
        print_json(regulators)
    elif not regulators:
        console.print("no regulators: SupplyChain's admin appoints them (`careledger drug regulator appoint`)")
    else:
        for address in regulators:
            console.print(address, markup=False)


def _print_change(regulator: str, appointed: bool, regulators: list[str], json: bool) -> None:
    if json:
        print_json({"regulator": regulator, "appointed": appointed, "regulators": regulators})
    elif appointed:
        console.print(f"{regulator} is a regulator: it may admit manufacturers and recall any lot", markup=False)
    else:
        console.print(f"{regulator} is no longer a regulator", markup=False)
