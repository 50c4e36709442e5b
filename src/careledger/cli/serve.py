"""`careledger serve`: the node's FHIR API, consent sync and anchoring, until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated

import typer

from careledger.cli._context import PASSPHRASE_ENV, CliState, open_node, passphrase_source, state
from careledger.cli._output import console
from careledger.config import NODE_WALLET, Settings
from careledger.errors import ChainUnavailable, Conflict, WorkersNeedPostgres
from careledger.log_format import LogFormat, formatter
from careledger.outages import database_outage
from careledger.schema import upgrade_schema
from careledger.services import Operations, open_operations


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
    workers: Annotated[
        int, typer.Option("--workers", help="Worker processes serving the port (more than 1: PostgreSQL).", min=1)
    ] = 1,
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
    if workers > 1:
        _serve_workers(cli, host=host, port=port, domain=domain, count=workers)
        return
    with _log_to_stderr(state(ctx).settings().log_format), open_node(ctx) as node:
        node.unlock()  # anchoring signs with the node wallet: ask for its passphrase now, not mid-request
        server = NodeServer(node, host=host, port=port, domain=domain)
        console.print(
            f"serving {server.url} (FHIR base; docs at {server.url}/docs; portal at {server.url}/portal); Ctrl-C stops",
            markup=False,
        )
        server.run()
        console.print("stopped; pending commitments and audit heads anchored", markup=False)


def _serve_workers(cli: CliState, *, host: str, port: int, domain: str | None, count: int) -> None:
    """`serve --workers N`: the port bound, the chain reached (a managed anvil started and kept here) and the
    node wallet unlocked once, here; then N workers serve (`careledger.api.Workers`)."""
    from careledger.api import Workers, WorkerSpec, listening_socket, needs_shared_database

    settings = cli.settings()
    if needs_shared_database(settings, cli.home) or settings.chain == "memory":
        raise WorkersNeedPostgres(
            f'--workers {count} needs PostgreSQL (`db = "postgresql://…"`) and a chain every worker reaches: '
            "this node's database is SQLite (one writer) or its chain in memory; serve with one worker"
        )
    passphrase = passphrase_source()(NODE_WALLET)
    os.environ.pop(PASSPHRASE_ENV, None)  # the workers are handed it through their spawn pipe, not their environment
    sock = listening_socket(host, port)
    bound = int(sock.getsockname()[1])
    url = f"http://{host}:{bound}"
    with _log_to_stderr(settings.log_format), _kept_chain(cli, settings, passphrase) as node:
        node.unlock()  # a wrong passphrase fails here, once, not in every worker
        node.vault.open()  # every secret made here: workers racing to make one would each keep their own
        spec = WorkerSpec(
            home=cli.home.path,
            settings=Settings.model_validate(settings.model_dump()),  # plain settings: they go through a pipe
            passphrase=passphrase,
            host=host,
            domain=domain or f"{host}:{bound}",
            logging=partial(_log_to_stderr, settings.log_format),
        )

        def serving() -> None:
            console.print(f"serving {url} with {count} workers (FHIR base; portal at {url}/portal); Ctrl-C stops")

        try:
            Workers(spec, sock, count).run(heartbeat=node.status, serving=serving)
        finally:
            sock.close()
        console.print(f"stopped; {_anchor_left_over(node)}", markup=False)


def _anchor_left_over(node: Operations) -> str:
    """Anchor what a worker killed at the stop could not, as the leader: a worker of this node still running
    (one not yet stopped, or another host's) may hold the lead, and two anchorings of one batch race on chain.
    What became of it, in words: the operator stopping a node in a database or chain outage is told that what is
    pending waits for the next start, not that someone else anchors it."""
    try:
        if not node.leadership.try_lead():
            if node.leadership.held_anywhere():  # the database away: raised here (`try_lead` only says no)
                return "another process of this node leads, and anchors what is pending"
            return "no process of this node leads just now: what is pending waits for the next leader"
        try:
            node.anchorer.anchor_pending()
            node.audit_anchorer.anchor_pending()
        finally:
            node.leadership.release()
    except ChainUnavailable as exc:
        return f"what is pending is not anchored ({exc}): the next start anchors it"
    except Exception as exc:
        if database_outage(exc) is None:
            raise
        return "what is pending is not anchored (the database is not answering): the next start anchors it"
    return "pending commitments and audit heads anchored"


@contextmanager
def _kept_chain(cli: CliState, settings: Settings, passphrase: str) -> Iterator[Operations]:
    """The node, with its chain reached: a managed anvil is started and kept running for the workers (as
    `chain up` does), unless `chain up` already keeps it."""
    try:
        node = open_operations(cli.home, settings, lambda _wallet: passphrase, keep_chain=True)
    except Conflict:  # `chain up` runs this home's anvil: the workers and this process use it
        node = open_operations(cli.home, settings, lambda _wallet: passphrase)
    with node:
        yield node


@contextmanager
def _log_to_stderr(kind: LogFormat) -> Iterator[None]:
    """The node's own log on stderr while it serves, each line with its time, level, source and request: a chain
    going away and coming back, a background round that failed, one access line per request. What an operator
    reads in the journal, as text or JSON lines (`log_format`). uvicorn's own lines (a request it could not
    parse) and Python's warnings (a library's deprecation) go through the same handler: in JSON mode every line on
    stderr is one JSON object."""
    logger, server, warned = (logging.getLogger(name) for name in ("careledger", "uvicorn", "py.warnings"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    level = logger.level
    logger.addHandler(handler)
    server.addHandler(handler)  # NodeServer's uvicorn leaves its loggers unconfigured (`log_config=None`)
    warned.addHandler(handler)
    warned.propagate = False  # once, through this handler, not again through a root handler someone configured
    logging.captureWarnings(True)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:  # served in a test's process, the log goes back to what it was
        logging.captureWarnings(False)
        warned.propagate = True
        for named in (logger, server, warned):
            named.removeHandler(handler)
        logger.setLevel(level)
