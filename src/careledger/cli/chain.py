"""`careledger chain ...`: run, inspect and deploy to the node's chain."""

from __future__ import annotations

import json as jsonlib
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from careledger.cli._context import address_of, open_node, state
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.errors import ChainUnavailable, Conflict, NotFound, ValidationError
from careledger.files import write_atomically
from careledger.node_status import NodeStatus

app = typer.Typer(help="Run, inspect, deploy to and join the node's chain.", no_args_is_help=True)


@app.command()
def up(
    ctx: typer.Context,
    detach: Annotated[
        bool, typer.Option("--detach", help="Keep it running in the background and return (`chain down` stops it).")
    ] = False,
) -> None:
    """Start this home's anvil chain and keep it running until Ctrl-C (or, with --detach, `chain down`).

    While it runs, every other command on this home uses it instead of starting its own, and
    `serve` shares it with them.
    """
    if detach:
        _detach(ctx)
        return
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # A shell starts background jobs with SIGINT ignored, and Python then keeps it ignored:
    # Ctrl-C (or `kill -INT`) must stop the chain however the command was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    keeper = _keeper_file(ctx)
    with ExitStack() as stack:
        with progress.status("starting the chain…"):
            node = stack.enter_context(open_node(ctx, keep_chain=True))
        process = node.managed_chain()
        try:
            report = node.status()
        except ChainUnavailable:
            if not process.died():
                raise
            raise ChainUnavailable(f"the managed chain died: {process.describe_exit()}") from None
        write_atomically(keeper, f"{os.getpid()}\n".encode())
        stack.callback(keeper.unlink, missing_ok=True)
        console.print(
            f"chain {report.chain_id} running at [bold]{report.url}[/] "
            f"(anvil pid {process.pid}, block {report.block}); Ctrl-C stops it"
        )
        try:
            process.wait()
        except KeyboardInterrupt:
            console.print("stopping the chain; its state stays in the home")
            return
        raise ChainUnavailable(f"the managed chain died: {process.describe_exit()}")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the chain `chain up --detach` keeps running (its state stays in the home)."""
    keeper = _keeper_file(ctx)
    pid = _keeper_pid(keeper)
    if pid is None:
        console.print("no chain is kept running for this home")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _DOWN_TIMEOUT
    with progress.status("stopping the chain…"):
        while _keeper_pid(keeper) == pid and time.monotonic() < deadline:
            time.sleep(0.1)
    if _keeper_pid(keeper) == pid:
        raise ChainUnavailable(f"the chain keeper (pid {pid}) did not stop within {_DOWN_TIMEOUT:.0f} s")
    console.print("chain stopped; its state stays in the home")


# Seconds `chain up --detach` waits for the chain to answer (anvil's own start is bounded at 30 s).
_UP_TIMEOUT = 60.0

# Seconds `chain down` waits for the keeper, which waits for anvil to dump its state.
_DOWN_TIMEOUT = 30.0


def _keeper_file(ctx: typer.Context) -> Path:
    """Where a running `chain up` records its pid in the home."""
    return state(ctx).home.chain_dir / "keeper.pid"


def _keeper_pid(keeper: Path) -> int | None:
    """The pid of the live `chain up` recorded in `keeper`, if any."""
    try:
        pid = int(keeper.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _detach(ctx: typer.Context) -> None:
    """Start `chain up` as a background process of its own and return once its chain answers."""
    cli = state(ctx)
    cli.home.require()
    if _keeper_pid(_keeper_file(ctx)) is not None:
        raise Conflict(f"a chain is already kept running for {cli.home.path}; `careledger chain down` stops it")
    options = ["--home", str(cli.home.path)]
    options += ["--chain", cli.chain] if cli.chain else []
    options += ["--db", cli.db] if cli.db else []
    log = cli.home.chain_dir / "keeper.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "careledger", *options, "chain", "up"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C or hang-up
        )
    deadline = time.monotonic() + _UP_TIMEOUT
    with progress.status("starting the chain in the background…"):
        while _keeper_pid(_keeper_file(ctx)) != child.pid:
            if time.monotonic() > deadline:
                child.terminate()
                raise ChainUnavailable(f"`chain up` did not start within {_UP_TIMEOUT:.0f} s; see {log}")
            if child.poll() is not None:
                raise ChainUnavailable(f"`chain up` exited with code {child.returncode}; see {log}")
            time.sleep(0.1)
    console.print(
        f"chain kept running in the background (pid {child.pid}, log {log}); `careledger chain down` stops it"
    )


def _stop_on_sigterm(_signum: int, _frame: Any) -> NoReturn:
    raise KeyboardInterrupt


@app.command()
def status(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Backend, chain id, block and deployed contracts."""
    with open_node(ctx) as node:
        report = node.status()
    if json:
        print_json(asdict(report))
    else:
        render_status(report)


def render_status(report: NodeStatus) -> None:
    """The status as a table (shared with `demo`)."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("home", report.home)
    table.add_row("node", report.node_address)
    table.add_row("balance", f"{Decimal(report.node_balance_wei) / 10**18:f} ether (pays the node's gas)")
    table.add_row("chain", f"{report.backend} (id {report.chain_id})" + (f" at {report.url}" if report.url else ""))
    table.add_row("block", str(report.block))
    table.add_row("database", report.database)
    for contract in report.contracts or ():
        table.add_row(contract.name, f"{contract.address} (block {contract.block})")
    if not report.contracts:
        table.add_row("contracts", "none deployed: run `careledger chain deploy`")
    console.print(table)


@app.command()
def deploy(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Deploy every contract that is missing or changed; running it again deploys nothing."""
    with open_node(ctx) as node, progress.status("deploying…"):
        results = node.deploy()
    if json:
        print_json([{**asdict(r.deployment), "deployed_now": r.deployed_now} for r in results])
        return
    for result in results:
        verb = "deployed" if result.deployed_now else "unchanged"
        console.print(f"{result.deployment.name}: {verb} at {result.deployment.address}")


@app.command()
def adopt(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Another node's deployments/<chain id>.json, or `chain deploy --json`.")],
    json: JsonFlag = False,
) -> None:
    """Join a network: use the contracts another node deployed on this chain (each is checked on chain)."""
    try:
        raw = jsonlib.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read deployments from {file}: {exc}") from None
    entries = list(raw.values()) if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise ValidationError(f"{file} is not a list of deployments")
    with open_node(ctx) as node:
        try:
            adopted = node.adopt(entries)
        except ValidationError as exc:
            raise ValidationError(f"{file}: {exc}") from None
    if not adopted:
        raise NotFound(f"none of the deployments in {file} is on this chain with this version's code")
    if json:
        print_json([asdict(d) for d in adopted])
        return
    for deployment in adopted:
        console.print(f"{deployment.name}: adopted at {deployment.address}")


@app.command()
def admit(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(metavar="NODE", help="The joining node's address (or a wallet name here).")],
    issuer: Annotated[
        bool,
        typer.Option(
            "--issuer", help="Also let it attest credentials (ISSUER_ROLE): its staff's affiliation and licences."
        ),
    ] = False,
    json: JsonFlag = False,
) -> None:
    """Let a node that joined the network anchor its commitments and, with --issuer, have staff of its own (run by
    the node that deployed; once the council is bootstrapped, the council decides)."""
    with open_node(ctx) as node:
        admission = node.admit(address_of(node, member), issuer=issuer)
    if json:
        print_json(admission.to_json())
        return
    who = admission.node
    console.print(
        f"{who} {'may now' if admission.admitted_now else 'could already'} anchor on RecordAnchor {admission.anchor}",
        markup=False,
    )
    if admission.issuer_now is not None:
        verb = "may now" if admission.issuer_now else "could already"
        console.print(
            f"{who} {verb} attest credentials (its staff's affiliation, licences) on IdentityRegistry "
            f"{admission.registry}",
            markup=False,
        )


@app.command()
def issuers(ctx: typer.Context, json: JsonFlag = False) -> None:
    """Who may attest credentials on this network now (ISSUER_ROLE), in the order they were first made issuers."""
    with open_node(ctx) as node:
        held = node.issuers()
    if json:
        print_json(held)
    else:
        for address in held:
            console.print(address, markup=False)
