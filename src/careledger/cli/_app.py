"""The Typer application: global options and the command tree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careledger import __version__
from careledger.cli import (
    access,
    audit,
    chain,
    claim,
    consent,
    demo,
    exchange,
    identity,
    init,
    record,
    serve,
    testdata,
    token,
    wallet,
)
from careledger.cli._context import CliState

app = typer.Typer(
    name="careledger",
    help="CareLedger node: patient-owned health records, consent and audit on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(chain.app, name="chain")
app.add_typer(wallet.app, name="wallet")
app.add_typer(identity.app, name="identity")
app.add_typer(record.app, name="record")
app.add_typer(consent.app, name="consent")
app.add_typer(access.app, name="access")
app.add_typer(audit.app, name="audit")
app.add_typer(claim.app, name="claim")
app.add_typer(exchange.app, name="exchange")
app.add_typer(token.app, name="token")
app.add_typer(testdata.app, name="testdata")
app.command()(init.init)
app.command()(demo.demo)
app.command()(serve.serve)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"careledger {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="CARELEDGER_HOME", help="Node home directory [default: ~/.careledger]."),
    ] = None,
    chain_spec: Annotated[
        str | None,
        typer.Option("--chain", help="memory, anvil or a JSON-RPC URL [default: from config, else anvil]."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL, e.g. postgresql://user@host/db [default: SQLite in the home]."),
    ] = None,
    node_url: Annotated[
        str | None,
        typer.Option(
            "--node",
            envvar="CARELEDGER_NODE",
            help="A node's API URL: record add|get|list run there (signed in by SIWE).",
        ),
    ] = None,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Options every command shares: the home, the chain, the node to talk to, output."""
    ctx.obj = CliState(home_flag=home, chain=chain_spec, db=db, node_url=node_url)
