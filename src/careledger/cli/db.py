"""`careledger db …`: the database schema's revision, and upgrading it to this CareLedger's."""

from __future__ import annotations

import typer

from careledger.cli._context import state
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.schema import schema_state, upgrade_schema

app = typer.Typer(help="The database's schema: its revision, and upgrading it.", no_args_is_help=True)


@app.command()
def current(ctx: typer.Context, json: JsonFlag = False) -> None:
    """The database's schema revision and this CareLedger's; what `db upgrade` would apply. Changes nothing."""
    cli = state(ctx)
    cli.home.require()
    found = schema_state(cli.home, cli.settings())
    if json:
        print_json(found.to_json())
        return
    console.print(f"database {found.database or 'never migrated'} ({found.backend}), this CareLedger {found.head}")
    if found.current:
        console.print("up to date")
    else:
        console.print(f"behind by {len(found.pending)}: run `careledger db upgrade` ({', '.join(found.pending)})")


@app.command()
def upgrade(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Migrate the database to this CareLedger's schema (nothing if it is there). Stop every `serve` of
    an older version first: it is not written for the new schema."""
    cli = state(ctx)
    cli.home.require()
    with progress.status("migrating the database…"):
        before, after = upgrade_schema(cli.home, cli.settings())
    if json:
        print_json({"from": before.database, "to": after.database, "applied": list(before.pending)})
        return
    if not before.pending:
        console.print(f"the database is at {after.database} already: nothing to do")
        return
    console.print(f"migrated the database from {before.database or 'empty'} to {after.database}:")
    for name in before.pending:
        console.print(f"  applied {name}")
