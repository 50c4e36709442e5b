"""`careledger demo`: a chain and three nodes as separate processes, and the story they act out."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.status import Status

from careledger.cli._context import state
from careledger.cli._options import JsonFlag
from careledger.cli._output import console, print_json, progress
from careledger.errors import DemoFailed, ValidationError

if TYPE_CHECKING:
    from careledger.demo import DemoNetwork, StepResult


def demo(
    ctx: typer.Context,
    kill: Annotated[
        str | None,
        typer.Option(
            "--kill",
            metavar="NODE",
            help="Kill NODE (hospital, clinic or agent) with SIGKILL once it has written, start it again, go on.",
        ),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo's homes and chain state.")] = False,
    json: JsonFlag = False,
) -> None:
    """Three nodes (hospital, clinic, alice's agent) on one chain: consent, exchange, revocation, audit."""
    from careledger.demo import KILL_AFTER, DemoNetwork, Story  # the API server and more: for this command only

    if kill is not None and kill not in KILL_AFTER:
        raise ValidationError(f"--kill takes one of {', '.join(KILL_AFTER)}, not {kill!r}")
    root = Path(tempfile.mkdtemp(prefix="careledger-demo-"))
    passphrase = secrets.token_urlsafe(12)
    started = time.monotonic()
    try:
        with progress.status("starting a chain, three node homes and their servers…"):
            network = DemoNetwork(root, state(ctx).chain or "anvil", passphrase)
        try:
            with progress.status("starting the three nodes' servers…"):
                network.start()
            if not json:
                _introduce(network)
            with progress.status("…") as status:
                results = Story(network, passphrase, kill=kill).run(
                    lambda title: status.update(f"{title}…"), lambda result: _narrate(result, status, json)
                )
            seconds = time.monotonic() - started
            ok = all(r.ok for r in results)
            report = _report(network, results, ok, seconds)
        finally:
            network.close()
        if json:
            print_json(report)
        elif ok:
            console.print(f"\n[bold green]All {len(results)} steps behaved as they must[/], in {seconds:.1f} s.")
        if not ok:
            failed = next(r for r in results if not r.ok)
            raise DemoFailed(f"step {results.index(failed) + 1} ({failed.name}) did not behave: {failed.lines[-1]}")
    finally:
        if keep:
            progress.print(f"kept the demo's homes in {root} (passphrase {passphrase})", markup=False)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _introduce(network: DemoNetwork) -> None:
    chain = network.chain
    console.print("[bold]CareLedger demo[/]: three nodes, one chain, no central database\n")
    console.print(f"chain   {chain.kind} (id {chain.chain_id}) at {chain.url}; contracts deployed by the hospital")
    for participant in network.participants:
        process = participant.process
        console.print(
            f"node    {participant.label:<14} {process.url}  pid {process.pid}  {participant.node.home.path}",
            markup=False,
        )


def _narrate(result: StepResult, status: Status, quiet: bool) -> None:
    if quiet:
        return
    status.stop()
    mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
    console.print(f"\n{mark} [bold]{result.title}[/] [dim]({result.seconds:.1f} s)[/]")
    for line in result.lines:
        console.print(f"    {line}", markup=False, style=None if result.ok else "red")
    status.start()


def _report(network: DemoNetwork, results: list[StepResult], ok: bool, seconds: float) -> dict[str, Any]:
    return {
        "ok": ok,
        "seconds": round(seconds, 2),
        "chain": {"kind": network.chain.kind, "chain_id": network.chain.chain_id, "url": network.chain.url},
        "nodes": {
            p.name: {"address": p.address, "url": p.process.url, "home": str(p.node.home.path)}
            for p in network.participants
        },
        "steps": [asdict(r) for r in results],
    }
