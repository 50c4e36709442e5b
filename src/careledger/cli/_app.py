"""The Typer application: global options and the command tree, built for the command being run.

Typer turns every command of the tree into a click command on each run, and each group's
module imports what its commands use: for a command of one group (`careledger record
list`), only that group is loaded. `--help` and anything unrecognised get the whole tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Annotated

import typer

from careledger.cli._context import CliState

# Each group of commands, and the module whose `app` holds them, in the order `--help` lists them.
GROUPS = {
    "chain": "careledger.cli.chain",
    "wallet": "careledger.cli.wallet",
    "identity": "careledger.cli.identity",
    "record": "careledger.cli.record",
    "consent": "careledger.cli.consent",
    "access": "careledger.cli.access",
    "audit": "careledger.cli.audit",
    "compliance": "careledger.cli.compliance",
    "blobs": "careledger.cli.blobs",
    "claim": "careledger.cli.claim",
    "exchange": "careledger.cli.exchange",
    "token": "careledger.cli.token",
    "governance": "careledger.cli.governance",
    "client": "careledger.cli.client",
    "device": "careledger.cli.device",
    "message": "careledger.cli.message",
    "schedule": "careledger.cli.schedule",
    "visit": "careledger.cli.visit",
    "study": "careledger.cli.study",
    "trial": "careledger.cli.trial",
    "insight": "careledger.cli.insight",
    "drug": "careledger.cli.drug",
    "testdata": "careledger.cli.testdata",
    "db": "careledger.cli.db",
}
# Commands at the top level, and the module of each.
COMMANDS = {
    "init": "careledger.cli.init",
    "demo": "careledger.cli.demo",
    "serve": "careledger.cli.serve",
    "backup": "careledger.cli.backup",
    "restore": "careledger.cli.backup",
    "verify": "careledger.cli.verify",
}

# Global options that take a value: the token after them is not a command's name.
_VALUED_OPTIONS = {"--home", "--chain", "--db", "--node"}


def build_app(args: Sequence[str]) -> typer.Typer:
    """The application for `args`: the group or command they name, else every one."""
    app = typer.Typer(
        name="careledger",
        help="CareLedger node: patient-owned health records, consent and audit on an EVM chain.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(main_options)
    named = _command_named(args)
    for name, module in COMMANDS.items():
        if named in (None, name):
            app.command(name)(getattr(import_module(module), name))
    for name, module in GROUPS.items():
        if named in (None, name):
            app.add_typer(import_module(module).app, name=name)
    return app


def _command_named(args: Sequence[str]) -> str | None:
    """The group or command `args` run, if they name a known one (else None: build everything)."""
    tokens = iter(args)
    for token in tokens:
        if token in _VALUED_OPTIONS:
            next(tokens, None)
        elif token in ("-h", "--help"):
            return None
        elif not token.startswith("-"):
            return token if token in GROUPS or token in COMMANDS else None
    return None


def _print_version(value: bool) -> None:
    if value:
        from careledger import __version__

        typer.echo(f"careledger {__version__}")
        raise typer.Exit()


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
