"""`careledger demo`: a fresh node in a temporary home, end to end, in seconds."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from eth_utils import keccak

from careledger.chain import AnchorKind
from careledger.cli._context import state
from careledger.cli._output import console, print_json, progress
from careledger.cli.chain import render_status
from careledger.config import Home, Settings
from careledger.node import Node, init_home


def demo(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo home instead of deleting it.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Set up a node in a temporary home, start its chain, deploy, anchor and verify."""
    home = Home(Path(tempfile.mkdtemp(prefix="careledger-demo-")))
    settings = Settings(chain=state(ctx).chain or "anvil", light_kdf=True)
    passphrase = secrets.token_urlsafe(16)
    try:
        with progress.status("creating a node home…"):
            address = init_home(home, settings, passphrase)
        _say(json, f"[bold]1.[/] node home {home.path}, wallet {address}")
        with progress.status(f"starting the {settings.chain} chain…"):
            node = Node(home, settings, lambda _wallet: passphrase)
        with node:
            where = f" at {node.chain.url}" if node.chain.url else ""
            _say(json, f"[bold]2.[/] chain {node.chain.kind} (id {node.chain.chain_id}){where}")
            with progress.status("deploying contracts…"):
                results = node.deploy()
            for result in results:
                _say(json, f"[bold]3.[/] deployed {result.deployment.name} at {result.deployment.address}")
            # A salted commitment stands in for a record: random salt, no health data.
            commitment = keccak(secrets.token_bytes(32) + b"demo-commitment")
            anchor = node.record_anchor(write=True)
            batch = anchor.anchor(commitment, 1, AnchorKind.RECORDS)
            verified = anchor.verify(batch.batch_id, [], commitment)
            _say(
                json,
                f"[bold]4.[/] anchored commitment 0x{commitment.hex()[:16]}… as batch {batch.batch_id}; "
                f"verified on chain: {'yes' if verified else 'NO'}",
            )
            report = node.status()
        if json:
            print_json({"status": asdict(report), "batch": batch.batch_id, "verified": verified})
        else:
            console.print()
            render_status(report)
    finally:
        if keep:
            _say(json, f"kept the demo home: careledger --home {home.path} chain status")
        else:
            shutil.rmtree(home.path, ignore_errors=True)


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        console.print(line)
