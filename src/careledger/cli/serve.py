"""`careledger serve`: the node's FHIR API, consent sync and anchoring, until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from careledger.cli._context import open_node, state
from careledger.cli._output import console
from careledger.log_format import LogFormat, formatter
from careledger.schema import upgrade_schema


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).", min=0, max=65535)] = 8080,
    domain: Annotated[
        str | None, typer.Option("--domain", help="The domain SIWE messages must name [default: HOST:PORT].")
    ] = None,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Upgrade a database behind this CareLedger's schema first (`db upgrade`).")
    ] = False,
) -> None:
    """Serve the FHIR R4 API (Sign-In with Ethereum), sync consents and anchor in the background."""
    from careledger.api import NodeServer  # FastAPI and SIWE: ~1 s to import, for this command only

    signal.signal(signal.SIGINT, signal.default_int_handler)
    cli = state(ctx)
    cli.home.require_private()
    if migrate:  # before any worker opens the node: a node refuses a database behind (exit 14)
        before, after = upgrade_schema(cli.home, cli.settings())
        if before.pending:
            console.print(f"migrated the database from {before.database} to {after.database}", markup=False)
    with _log_to_stderr(state(ctx).settings().log_format), open_node(ctx) as node:
        node.unlock()  # anchoring signs with the node wallet: ask for its passphrase now, not mid-request
        server = NodeServer(node, host=host, port=port, domain=domain)
        console.print(
            f"serving {server.url} (FHIR base; docs at {server.url}/docs; portal at {server.url}/portal); Ctrl-C stops",
            markup=False,
        )
        server.run()
        console.print("stopped; pending commitments and audit heads anchored", markup=False)


@contextmanager
def _log_to_stderr(kind: LogFormat) -> Iterator[None]:
    """The node's own log on stderr while it serves, each line with its time, level, source and request: a chain
    going away and coming back, a background round that failed, one access line per request. What an operator
    reads in the journal, as text or JSON lines (`log_format`)."""
    logger = logging.getLogger("careledger")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:  # served in a test's process, the log goes back to what it was
        logger.removeHandler(handler)
        logger.setLevel(level)
