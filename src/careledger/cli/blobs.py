"""`careledger blobs ...`: where the node keeps its records' blobs, and moving them to the other store."""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.table import Table

from careledger.cli._context import open_node
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress, progress_bar

app = typer.Typer(help="The blob store: files under the home, or the node's database.", no_args_is_help=True)

StoreKind = Literal["files", "database"]


@app.command()
def status(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Which store the node uses (`blob_store`), and how many blobs and bytes each store holds."""
    with open_node(ctx) as node:
        configured = node.blob_stores.configured
        usage = node.blob_stores.usage()
    if json:
        print_json(
            {
                "configured": configured,
                "stores": {kind: {"blobs": used.count, "bytes": used.bytes} for kind, used in usage.items()},
            }
        )
        return
    table = Table("store", "blobs", "bytes", "")
    for kind, used in usage.items():
        table.add_row(kind, f"{used.count:,}", f"{used.bytes:,}", "← in use (blob_store)" if kind == configured else "")
    console.print(table)


@app.command()
def migrate(
    ctx: typer.Context,
    to: Annotated[StoreKind, typer.Option("--to", help="The store to copy every blob into: database or files.")],
    json: JsonFlag = False,
) -> None:
    """Copy every blob from the other store into --to, each checked on the way; resumable (run it again after a
    crash or Ctrl-C and it finishes). The node keeps using its configured store until `blob_store` is set."""
    with open_node(ctx) as node:
        stores = node.blob_stores
        source: StoreKind = "files" if to == "database" else "database"
        total = stores.usage()[source].count
        done = 0
        with progress_bar(f"{source} → {to}", counting="items") as show:
            show(0, total, "")

            def advance(count: int) -> None:
                nonlocal done
                done += count
                show(done, total, "")

            try:
                moved = stores.move(to, advance)
            except KeyboardInterrupt:
                progress.print(f"stopped after {done} of {total} blobs: run the same command again to finish")
                raise
        configured = stores.configured
    advice = (
        f"the node already uses the {to} store"
        if configured == to
        else (
            "next: stop the node and run this command again (it copies the blobs written meanwhile), then set "
            f'blob_store = "{to}" in config.toml (or CARELEDGER_BLOB_STORE={to}) and start the node'
        )
    )
    if json:
        print_json(
            {
                "from": moved.source,
                "to": moved.target,
                "moved": moved.moved,
                "already_there": moved.already_there,
                "moved_bytes": moved.moved_bytes,
                "total_bytes": moved.total_bytes,
                "configured": configured,
                "next": advice,
            }
        )
        return
    console.print(
        f"{moved.moved} blobs copied ({moved.moved_bytes:,} bytes), {moved.already_there} already there; "
        f"{moved.total_bytes:,} bytes in all",
        markup=False,
    )
    console.print(advice, markup=False)
